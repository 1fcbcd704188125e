"""NAP: an acquisition policy trained with PPO on the training envs.

In the spirit of MetaBO (Volpp et al. 2020) and NAP (Maraval et al. 2023):
instead of a hand-made acquisition function, a small network scores each
candidate config from its GP posterior features; the policy picks the
candidate with the highest score. One shared MLP scores every candidate, so
the policy is invariant to the candidates' order and works for any number of
them: trained on random subsets of ``n_candidates`` configs, it ranks all
untried configs of a test env. The score is the MLP's output plus a learned
multiple of log EI, with the MLP starting near zero: PPO starts from an
EI-like policy and learns corrections, instead of first rediscovering EI
from a uniform policy in a few thousand noisy episodes.

Training plays short BO episodes (:class:`AcquisitionEnv`) on the training
envs' problems. The GP has fixed hyperparameters so thousands of PPO steps
stay cheap: an isotropic RBF lengthscale of ``factor * sqrt(d)`` on the
[0, 1]^d encoding and a noise level, both set once in :meth:`NAP.fit` as the
median of MLL fits on samples of the training tables (never a test table), and
used unchanged by the training env and at test time, which share
:func:`candidate_features`. ``save``/``load`` store the trained scorer's state
dict (safetensors) and the GP settings (JSON), not SB3's pickled zip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
import torch
from botorch.acquisition.analytic import _log_ei_helper
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from agents.config_agent import ConfigAgent
from agents.gp import DTYPE, argmax_random_ties, fit_gp
from agents.persistence import SavedAgent
from gymnasium_llmconfig.config_space import Config, concat_batches
from gymnasium_llmconfig.training_data import TrainingEnv, TrainingSet

#: Per-candidate features: posterior mean, posterior std, log EI, incumbent, fraction of the budget used.
N_FEATURES = 5
#: Column of log EI in the features, and the weight of the skip connection that makes log EI the starting policy.
LOG_EI_COLUMN = 2
EI_PRIOR_WEIGHT = 1.0
#: log EI is clipped here (far-off candidates would otherwise reach -1e3 and swamp the network's inputs).
LOG_EI_FLOOR = -20.0


@dataclass(frozen=True)
class GPSettings:
    """Fixed GP hyperparameters: lengthscale ``lengthscale_factor * sqrt(d)``, noise in standardized units."""

    lengthscale_factor: float = 0.4
    noise: float = 1e-3


def gp_posterior(x_seen: np.ndarray, z: np.ndarray, x_candidates: np.ndarray,
                 settings: GPSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std of an exact GP with zero mean and a unit-variance isotropic RBF kernel.

    The same model as a BoTorch ``SingleTaskGP`` with these hyperparameters
    (the tests check that), written as a few lines of torch linear algebra
    because building a GPyTorch model every step took most of PPO's training
    time (about 3 ms of a 5 ms step; this takes 0.2 ms).
    """
    scale = max(settings.lengthscale_factor * math.sqrt(x_candidates.shape[1]), 1e-3)
    seen = torch.as_tensor(np.asarray(x_seen), dtype=DTYPE) / scale
    candidates = torch.as_tensor(np.asarray(x_candidates), dtype=DTYPE) / scale
    noise = max(settings.noise, 1e-6) * torch.eye(len(seen), dtype=DTYPE)
    gram = torch.exp(-0.5 * torch.cdist(seen, seen).square()) + noise
    cross = torch.exp(-0.5 * torch.cdist(candidates, seen).square())
    chol = torch.linalg.cholesky(gram)
    mean = cross @ torch.cholesky_solve(torch.as_tensor(z, dtype=DTYPE).reshape(-1, 1), chol)
    explained = torch.linalg.solve_triangular(chol, cross.T, upper=False).square().sum(dim=0)
    return mean.squeeze(-1), (1.0 - explained).clamp_min(1e-12).sqrt()


def candidate_features(
    x_seen: np.ndarray, utilities: Sequence[float], x_candidates: np.ndarray, used: float, settings: GPSettings
) -> np.ndarray:
    """The (n_candidates, N_FEATURES) policy input; utilities are standardized within the episode."""
    y = np.asarray(utilities, dtype=np.float64)
    spread = y.std()
    z = (y - y.mean()) / (spread if spread > 0 else 1.0)
    mean, std = gp_posterior(x_seen, z, x_candidates, settings)
    best = float(z.max())
    log_ei = (_log_ei_helper((mean - best) / std) + std.log()).clamp_min(LOG_EI_FLOOR)  # BoTorch's stable log EI
    n = len(x_candidates)
    return np.column_stack([mean.numpy(), std.numpy(), log_ei.numpy(), np.full(n, best), np.full(n, used)]
                           ).astype(np.float32)


def estimate_gp_settings(envs: Sequence[TrainingEnv], rng: np.random.Generator, n_sample: int) -> GPSettings:
    """Median, over the training envs, of the MLL-fitted noise and geometric-mean lengthscale / sqrt(d).

    Each env contributes one GP fitted on ``n_sample`` of its configs.
    """
    factors, noises = [], []
    for env in envs:
        space = env.space
        if space.is_finite:
            configs = space.enumerate()
            rows = rng.choice(len(configs), size=min(n_sample, len(configs)), replace=False)
            x, sample = space.encode_all()[rows], [configs[i] for i in rows]
        else:
            batch = space.sample_batch(rng, n_sample)
            x, sample = space.encode_batch(batch), batch.configs()
        model = fit_gp(x, env.utilities(sample))
        with torch.no_grad():
            log_lengthscale = float(model.covar_module.lengthscale.log().mean())
            noises.append(float(model.likelihood.noise.mean()))
        factors.append(math.exp(log_lengthscale) / math.sqrt(x.shape[1]))
    return GPSettings(float(np.median(factors)), float(np.median(noises)))


class CandidateScorer(nn.Module):
    """Actor: one MLP maps each candidate's features to a logit. Critic: MLP embeddings, mean-pooled."""

    def __init__(self, n_features: int = N_FEATURES, hidden: int = 64):
        super().__init__()
        self.n_features = n_features
        self.latent_dim_vf = hidden
        self.actor = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                   nn.Linear(hidden, 1))
        self.critic = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        with torch.no_grad():
            self.actor[-1].weight.mul_(0.01)  # the MLP starts near zero, so the first policy is softmax(log EI)
        self.log_ei_weight = nn.Parameter(torch.tensor(EI_PRIOR_WEIGHT))
        self.latent_dim_pi = 0  # set by the policy to the training candidate count

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, n * n_features) flat features -> (batch, n) candidate logits."""
        candidates = features.view(features.shape[0], -1, self.n_features)
        return self.actor(candidates).squeeze(-1) + self.log_ei_weight * candidates[..., LOG_EI_COLUMN]

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.critic(features.view(features.shape[0], -1, self.n_features)).mean(dim=1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)


class CandidatePolicy(ActorCriticPolicy):
    """SB3 actor-critic whose logits are the per-candidate scores (the action head is the identity).

    ``gp_settings`` rides along as a constructor argument so ``PPO.save`` stores
    the GP hyperparameters the policy was trained with.
    """

    def __init__(self, *args: Any, hidden: int = 64, gp_settings: tuple[float, float] = (0.4, 1e-3), **kwargs: Any):
        self.hidden = hidden
        self.gp_settings = tuple(gp_settings)
        kwargs.setdefault("ortho_init", False)  # the scorer sets its own small output init
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = CandidateScorer(N_FEATURES, self.hidden)
        self.mlp_extractor.latent_dim_pi = int(self.action_space.n)

    def _build(self, lr_schedule: Callable[[float], float]) -> None:
        super()._build(lr_schedule)
        self.action_net = nn.Identity()
        # Rebuilt so the optimizer holds exactly the scorer and value head (not the discarded linear action head).
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "hidden": self.hidden, "gp_settings": self.gp_settings}


class _Table:
    """A training env with its configs and encodings listed once."""

    def __init__(self, env: TrainingEnv):
        self.env = env
        self.finite = env.space.is_finite
        self.configs = env.space.enumerate() if self.finite else []
        self.keys = [env.space.key(c) for c in self.configs]
        self.x = env.space.encode_all() if self.finite else np.zeros((0, env.space.dim))


class AcquisitionEnv(gymnasium.Env):
    """BO episodes on training problems, with the acquisition choice as the action.

    Reset draws a training problem and a budget in ``min_budget..horizon``
    (the leaderboard plays every budget from 1 to 5, and the fraction-used
    feature lets the policy spend a long budget differently from a short
    one), then evaluates one random config: there is nothing to condition on
    before it, and the agent does the same at test time. Each step offers
    ``n_candidates`` random untried configs, described by
    :func:`candidate_features`; the chosen one is evaluated. The reward is the
    drop in normalized simple regret of the best config so far, so an
    episode's return is (first regret - final regret): the policy is scored
    on the final regret alone, as the leaderboard scores an episode, and may
    explore while budget remains.
    """

    def __init__(self, envs: Sequence[TrainingEnv], n_candidates: int, horizon: int, settings: GPSettings,
                 min_budget: int = 2, neighbour_share: float = 0.25):
        if not 2 <= min_budget <= horizon:
            raise ValueError(f"need 2 <= min_budget <= horizon (one random start, one policy choice), "
                             f"got min_budget={min_budget}, horizon={horizon}")
        self.min_budget = min_budget
        self.neighbour_share = neighbour_share
        self.tables = [_Table(e) for e in envs]
        self.n_candidates = n_candidates
        self.horizon = horizon
        self.settings = settings
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (n_candidates, N_FEATURES), np.float32)
        self.action_space = gymnasium.spaces.Discrete(n_candidates)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.table = self.tables[int(self.np_random.integers(len(self.tables)))]
        self.budget = int(self.np_random.integers(self.min_budget, self.horizon + 1))
        self.tried: set[Hashable] = set()
        self.x_seen: list[np.ndarray] = []
        self.utilities: list[float] = []
        self.incumbent: Config = {}
        space = self.table.env.space
        if self.table.finite:
            row = int(self.np_random.integers(len(self.table.configs)))
            self._evaluate(self.table.configs[row], self.table.x[row])
        else:
            config = space.sample(self.np_random)
            self._evaluate(config, space.encode(config))
        self.regret = self._regret()
        return self._observe(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        row = int(action)
        self._evaluate(self.candidates[row], self.x_candidates[row])
        before, self.regret = self.regret, self._regret()
        done = len(self.utilities) >= self.budget
        observation = np.zeros(self.observation_space.shape, np.float32) if done else self._observe()
        return observation, before - self.regret, done, False, {"normalized_regret": self.regret}

    def _regret(self) -> float:
        return self.table.env.normalized_regret(max(self.utilities))

    def _evaluate(self, config: Config, x: np.ndarray) -> None:
        utility = self.table.env.utility(config)
        if not self.utilities or utility > max(self.utilities):
            self.incumbent = config
        self.tried.add(self.table.env.space.key(config))
        self.x_seen.append(np.asarray(x, dtype=np.float64))
        self.utilities.append(utility)

    def _observe(self) -> np.ndarray:
        self.candidates, self.x_candidates = self._draw_candidates()
        used = len(self.utilities) / self.budget
        return candidate_features(np.array(self.x_seen), self.utilities, self.x_candidates, used, self.settings)

    def _draw_candidates(self) -> tuple[list[Config], np.ndarray]:
        """``n_candidates`` untried configs (repeats only when fewer are left)."""
        space, rng, n = self.table.env.space, self.np_random, self.n_candidates
        if self.table.finite:
            configs, keys, x = self.table.configs, self.table.keys, self.table.x
        else:
            n_neighbours = int(n * self.neighbour_share)
            batch = concat_batches([space.sample_batch(rng, n - n_neighbours),
                                    space.neighbours(self.incumbent, rng, n_neighbours)])
            configs, x = batch.configs(), space.encode_batch(batch)
            keys = [space.key(c) for c in configs]
        left = np.array([i for i, key in enumerate(keys) if key not in self.tried])
        rows = rng.choice(left, size=n, replace=len(left) < n)
        return [configs[i] for i in rows], x[rows]


class NAP(ConfigAgent, SavedAgent):
    """Neural acquisition policy: PPO-trained candidate scorer over GP posterior features.

    At test time the first config is random (as in training); afterwards every
    untried config (finite spaces) or the architecture candidate set is scored
    and the argmax of the logits is proposed (ties at random with the episode
    rng): the greedy policy, as MetaBO evaluates its policies; sampling from
    the logits scored no better in our runs and makes a short episode noisier.

    Args:
        timesteps: PPO environment steps of training.
        n_candidates: candidates offered per training step.
        horizon: longest training episode (the leaderboard's largest budget).
        hidden: width of the scorer's and the critic's layers.
        seed: seeds the GP settings' samples and PPO.
        gp_sample: configs per training env the GP hyperparameters are fitted on.
        neighbour_share: share of an infinite space's training candidate set drawn as neighbours of the incumbent.
        n_steps, batch_size, n_epochs, learning_rate, gamma, gae_lambda, ent_coef: PPO's (stable-baselines3)
            hyperparameters; episodes are at most ``horizon`` steps long, so there is no discounting.
    """

    name = "nap"

    def __init__(self, timesteps: int = 20_000, n_candidates: int = 32, horizon: int = 5, hidden: int = 64,
                 seed: int = 0, gp_sample: int = 32, neighbour_share: float = 0.25, n_steps: int = 256,
                 batch_size: int = 64, n_epochs: int = 5, learning_rate: float = 1e-3, gamma: float = 1.0,
                 gae_lambda: float = 0.95, ent_coef: float = 0.01):
        super().__init__()
        self.timesteps = timesteps
        self.n_candidates = n_candidates
        self.horizon = horizon
        self.hidden = hidden
        self.seed = seed
        self.gp_sample = gp_sample
        self.neighbour_share = neighbour_share
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.ent_coef = ent_coef
        self.scorer: CandidateScorer | None = None
        self.gp_settings = GPSettings()

    # --- learning -------------------------------------------------------------------------
    def fit(self, training_set: TrainingSet) -> None:
        """Train the policy with PPO on BO episodes of the training envs."""
        envs = list(training_set)
        if not envs:
            raise ValueError("NAP.fit needs at least one training env")
        settings = estimate_gp_settings(envs, np.random.default_rng(self.seed), self.gp_sample)
        env = AcquisitionEnv(envs, self.n_candidates, self.horizon, settings,
                             neighbour_share=self.neighbour_share)
        model = PPO(CandidatePolicy, env, n_steps=self.n_steps, batch_size=self.batch_size, n_epochs=self.n_epochs,
                    learning_rate=self.learning_rate, gamma=self.gamma, gae_lambda=self.gae_lambda,
                    ent_coef=self.ent_coef, seed=self.seed, device="cpu", verbose=0,
                    policy_kwargs={"hidden": self.hidden,
                                   "gp_settings": (settings.lengthscale_factor, settings.noise)})
        model.learn(total_timesteps=self.timesteps)
        self.restore_state({"gp_settings": list(model.policy.gp_settings),
                            "scorer": model.policy.mlp_extractor.state_dict()})

    def fitted_state(self) -> dict[str, Any]:
        if self.scorer is None:
            raise RuntimeError("NAP has no policy to save: call fit(training_set) first")
        return {"gp_settings": [self.gp_settings.lengthscale_factor, self.gp_settings.noise],
                "scorer": self.scorer.state_dict()}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.gp_settings = GPSettings(*state["gp_settings"])
        self.scorer = CandidateScorer(N_FEATURES, self.hidden)
        self.scorer.load_state_dict(state["scorer"])
        self.scorer.eval()

    # --- acting -----------------------------------------------------------------------------
    def start_episode(self) -> None:
        if self.scorer is None:
            raise RuntimeError("NAP has no policy: call fit(training_set) first, or NAP.load(path) "
                               "an agent saved with save(path)")

    def propose(self) -> Config:
        if not self.history:
            return self.random_untried()
        candidates = self.candidates(1)
        if not len(candidates):
            return self.random_untried()
        x_seen = np.array([self.space.encode(config) for config, _ in self.history])
        utilities = [self.utility(metric) for _, metric in self.history]
        used = len(self.history) / max(self.card.budget, 1)
        features = candidate_features(x_seen, utilities, candidates.x, used, self.gp_settings)
        with torch.no_grad():
            scores = self.scorer.forward_actor(torch.as_tensor(features).reshape(1, -1)).numpy()[0]
        return dict(candidates.configs[argmax_random_ties(scores.astype(np.float64), self.rng)])
