"""MetaBO: a neural acquisition function trained with PPO on the training tasks (Volpp et al., ICLR 2020).

The acquisition function is a neural network ``alpha_theta(mu_t(x), sigma_t(x), x, t, T)`` (MetaBO §4): the
GP posterior mean and standard deviation at a candidate, the candidate's
features, the step ``t`` and the budget ``T``. One shared MLP scores every
candidate, and the policy is the softmax over the candidates' scores, so it
is invariant to their order and works for any number of them. The value
network sees only ``t`` and ``T`` (as in the authors' reference
configuration, which also starts episodes with no initial samples, so the
policy makes the first choice too). Training is PPO on BO episodes of the
training envs (:mod:`agents.bo_episode`) with the paper's reward, the
negative simple regret after each step (``r_t = -R_t``, normalized here by
each env's best and worst run so every env weighs the same; the paper's
``-log10 R_t`` variant is not used because a regret of exactly 0 is common in
run tables), so an episode's return is the negative cumulative regret; at
test time the policy is greedy (the argmax of the scores), as MetaBO
evaluates its policies.

MetaBO trains one policy per function class; here that is one per task
(training envs grouped by task, every fidelity of a task one class), so
``x`` is the task's :class:`~agents.features.TransferEncoder` features, which
put the same config on the same coordinates at every fidelity. The GP has
fixed hyperparameters per task, fitted once on the training data (MetaBO
§5: its GP hyperparameters are fixed from the training tasks): an isotropic
RBF lengthscale ``factor * sqrt(d)`` on the env's [0, 1]^d encoding and a
noise level, the median of MLL fits on samples of the task's training tables
(never a test table). The first proposal is the policy's as well: with no
data the posterior is the prior (mean 0, std 1), and the scores depend on
``x`` alone, a learned prior over where good configs sit. A task seen in no
training env is played as ``gp-bo`` plays it. ``save``/``load`` store each
task's scorer as a safetensors state dict plus JSON, not SB3's pickled zip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from agents.bo_episode import BOEpisode, TrainingTable, standardized
from agents.features import TransferEncoder
from agents.fsbo import one_thread
from agents.gp import DTYPE, argmax_random_ties, fit_gp
from agents.gp_bo import GPBO
from agents.persistence import SavedAgent
from gymnasium_llmconfig.config_space import Config, Parameter
from gymnasium_llmconfig.training_data import TrainingEnv, TrainingSet

#: Leading per-candidate inputs: posterior mean, posterior std, t / T, T / horizon; the candidate's features follow.
N_GP_FEATURES = 4
#: Columns of t / T and T / horizon, the value network's inputs.
TIME_COLUMNS = slice(2, 4)


@dataclass(frozen=True)
class GPSettings:
    """Fixed GP hyperparameters: lengthscale ``lengthscale_factor * sqrt(d)``, noise in standardized units."""

    lengthscale_factor: float = 0.4
    noise: float = 1e-3


@dataclass
class TaskPolicy:
    """What MetaBO learned for one task: the feature encoder, the GP settings and the scorer's weights."""

    encoder: TransferEncoder
    gp_settings: GPSettings
    scorer: dict[str, torch.Tensor]


def gp_posterior(x_seen: np.ndarray, z: np.ndarray, x_candidates: np.ndarray,
                 settings: GPSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std of an exact GP with zero mean and a unit-variance isotropic RBF kernel.

    The same model as a BoTorch ``SingleTaskGP`` with these hyperparameters
    (the tests check that), written as a few lines of torch linear algebra
    because building a GPyTorch model every step took most of PPO's training
    time (about 3 ms of a 5 ms step; this takes 0.2 ms). With no observations
    it is the prior: mean 0, std 1.
    """
    n = len(x_candidates)
    if not len(x_seen):
        return torch.zeros(n, dtype=DTYPE), torch.ones(n, dtype=DTYPE)
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


def candidate_features(x_seen: np.ndarray, utilities: Sequence[float], x_candidates: np.ndarray,
                       transfer_features: np.ndarray, used: float, budget_share: float,
                       settings: GPSettings) -> np.ndarray:
    """The (n_candidates, N_GP_FEATURES + feature dim) policy input: mu, sigma, t / T, T / horizon, x.

    Utilities are standardized within the episode; the GP runs on the env's
    own [0, 1] encoding ``x_candidates``, the policy reads the task-wide
    ``transfer_features``.
    """
    mean, std = gp_posterior(x_seen, standardized(utilities), x_candidates, settings)
    n = len(x_candidates)
    return np.column_stack([mean.numpy(), std.numpy(), np.full(n, used), np.full(n, budget_share),
                            np.asarray(transfer_features, dtype=np.float64).reshape(n, -1)]).astype(np.float32)


def estimate_gp_settings(tables: Sequence[TrainingTable], rng: np.random.Generator, n_sample: int) -> GPSettings:
    """Median, over the tables, of the MLL-fitted noise and geometric-mean lengthscale / sqrt(d).

    Each table contributes one GP fitted on ``n_sample`` of its configs.
    """
    factors, noises = [], []
    for table in tables:
        space = table.env.space
        if table.finite:
            rows = rng.choice(len(table.configs), size=min(n_sample, len(table.configs)), replace=False)
            x, sample = table.x[rows], [table.configs[i] for i in rows]
        else:
            batch = space.sample_batch(rng, n_sample)
            x, sample = space.encode_batch(batch), batch.configs()
        model = fit_gp(x, table.env.utilities(sample))
        with torch.no_grad():
            log_lengthscale = float(model.covar_module.lengthscale.log().mean())
            noises.append(float(model.likelihood.noise.mean()))
        factors.append(math.exp(log_lengthscale) / math.sqrt(x.shape[1]))
    return GPSettings(float(np.median(factors)), float(np.median(noises)))


class CandidateScorer(nn.Module):
    """Actor: one MLP maps each candidate's inputs to a score. Critic: an MLP embedding of (t / T, T / horizon)."""

    def __init__(self, n_features: int, hidden: int = 64):
        super().__init__()
        self.n_features = n_features
        self.latent_dim_vf = hidden
        self.actor = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                   nn.Linear(hidden, 1))
        self.critic = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.latent_dim_pi = 0  # set by the policy to the training candidate count

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, n * n_features) flat features -> (batch, n) candidate scores."""
        return self.actor(features.view(features.shape[0], -1, self.n_features)).squeeze(-1)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        time = features.view(features.shape[0], -1, self.n_features)[:, 0, TIME_COLUMNS]
        return self.critic(time)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)


class CandidatePolicy(ActorCriticPolicy):
    """SB3 actor-critic whose logits are the per-candidate scores (the action head is the identity)."""

    def __init__(self, *args: Any, hidden: int = 64, **kwargs: Any):
        self.hidden = hidden
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = CandidateScorer(int(self.observation_space.shape[-1]), self.hidden)
        self.mlp_extractor.latent_dim_pi = int(self.action_space.n)

    def _build(self, lr_schedule: Callable[[float], float]) -> None:
        super()._build(lr_schedule)
        self.action_net = nn.Identity()
        # Rebuilt so the optimizer holds exactly the scorer and value head (not the discarded linear action head).
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "hidden": self.hidden}


class AcquisitionEnv(gymnasium.Env):
    """BO episodes on one task's training tables, with the acquisition choice as the action.

    Reset draws a table and a budget in ``1..horizon`` (the leaderboard plays
    every budget from 1 to 5, and ``t`` and ``T`` are inputs, so the policy
    can spend a long budget differently from a short one). Each step offers
    ``n_candidates`` untried configs, described by :func:`candidate_features`;
    the chosen one is evaluated and the reward is ``-R_t``, the normalized
    simple regret of the best config so far (MetaBO §4).
    """

    def __init__(self, tables: Sequence[TrainingTable], n_candidates: int, horizon: int, settings: GPSettings,
                 neighbour_share: float = 0.25):
        if horizon < 1 or n_candidates < 2:
            raise ValueError(f"need horizon >= 1 and n_candidates >= 2, got {horizon} and {n_candidates}")
        self.tables = list(tables)
        self.n_candidates = n_candidates
        self.horizon = horizon
        self.settings = settings
        self.neighbour_share = neighbour_share
        n_features = N_GP_FEATURES + self.tables[0].encoder.dim
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (n_candidates, n_features), np.float32)
        self.action_space = gymnasium.spaces.Discrete(n_candidates)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        table = self.tables[int(self.np_random.integers(len(self.tables)))]
        budget = int(self.np_random.integers(1, self.horizon + 1))
        self.episode = BOEpisode(table, budget, self.np_random, self.neighbour_share)
        return self._observe(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        row = int(action)
        self.episode.evaluate(self.candidates[row], self.x_candidates[row], self.f_candidates[row])
        regret, done = self.episode.regret, self.episode.done
        observation = np.zeros(self.observation_space.shape, np.float32) if done else self._observe()
        return observation, -regret, done, False, {"normalized_regret": regret}

    def _observe(self) -> np.ndarray:
        episode = self.episode
        self.candidates, self.x_candidates, self.f_candidates = episode.candidates(self.n_candidates)
        return candidate_features(np.array(episode.x_seen), episode.utilities, self.x_candidates,
                                  self.f_candidates, episode.used, episode.budget / self.horizon, self.settings)


class MetaBO(GPBO, SavedAgent):
    """MetaBO: a PPO-trained neural acquisition function over GP posterior features, one per task.

    Args:
        timesteps: PPO environment steps of training, per task.
        n_candidates: candidates offered per training step.
        horizon: longest training episode (the leaderboard's largest budget); budgets are drawn in 1..horizon.
        hidden: width of the scorer's and the critic's layers.
        seed: seeds the GP settings' samples and PPO.
        gp_sample: configs per training env the GP hyperparameters are fitted on.
        neighbour_share: share of an infinite space's training candidate set drawn as neighbours of the incumbent.
        n_steps, batch_size, n_epochs, learning_rate, gamma, gae_lambda, ent_coef: PPO's (stable-baselines3)
            hyperparameters; episodes are at most ``horizon`` steps long, so there is no discounting.
        n_incumbents: GP-BO's argument, for tasks seen in no training env and the test-time candidate set.
    """

    name = "metabo"
    state_types = (TaskPolicy, GPSettings, TransferEncoder, Parameter)

    def __init__(self, timesteps: int = 3_072, n_candidates: int = 32, horizon: int = 5, hidden: int = 64,
                 seed: int = 0, gp_sample: int = 32, neighbour_share: float = 0.25, n_steps: int = 256,
                 batch_size: int = 64, n_epochs: int = 5, learning_rate: float = 1e-3, gamma: float = 1.0,
                 gae_lambda: float = 0.95, ent_coef: float = 0.01, n_incumbents: int = 3):
        super().__init__(n_initial=1, n_incumbents=n_incumbents)
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
        self.tasks: dict[str, TaskPolicy] | None = None
        self._task: TaskPolicy | None = None
        self._scorer: CandidateScorer | None = None

    # --- learning -------------------------------------------------------------------------
    def fit(self, training_set: TrainingSet) -> None:
        """Train one policy per task with PPO on BO episodes of that task's training envs."""
        grouped = training_set.by_task()
        if not grouped:
            raise ValueError("MetaBO.fit needs at least one training env")
        rng = np.random.default_rng(self.seed)
        with one_thread():
            self.tasks = {task: self._fit_task(grouped[task], rng) for task in sorted(grouped)}

    def _fit_task(self, envs: Sequence[TrainingEnv], rng: np.random.Generator) -> TaskPolicy:
        encoder = TransferEncoder([e.space for e in envs])
        tables = [TrainingTable(e, encoder, rng) for e in envs]
        settings = estimate_gp_settings(tables, rng, self.gp_sample)
        env = AcquisitionEnv(tables, self.n_candidates, self.horizon, settings, self.neighbour_share)
        model = PPO(CandidatePolicy, env, n_steps=self.n_steps, batch_size=self.batch_size, n_epochs=self.n_epochs,
                    learning_rate=self.learning_rate, gamma=self.gamma, gae_lambda=self.gae_lambda,
                    ent_coef=self.ent_coef, seed=int(rng.integers(2**31)), device="cpu", verbose=0,
                    policy_kwargs={"hidden": self.hidden, "ortho_init": False})
        model.learn(total_timesteps=self.timesteps)
        state = {k: v.detach().clone() for k, v in model.policy.mlp_extractor.state_dict().items()}
        return TaskPolicy(encoder, settings, state)

    def fitted_state(self) -> dict[str, TaskPolicy]:
        if self.tasks is None:
            raise RuntimeError("MetaBO has no policy to save: call fit(training_set) first")
        return self.tasks

    def restore_state(self, state: dict[str, TaskPolicy]) -> None:
        self.tasks = state

    # --- acting -----------------------------------------------------------------------------
    def start_episode(self) -> None:
        if self.tasks is None:
            raise RuntimeError("MetaBO has no policy: call fit(training_set) first, or MetaBO.load(path) "
                               "an agent saved with save(path)")
        self._task = self.tasks.get(self.card.task.name)
        if self._task is not None:
            self._scorer = CandidateScorer(N_GP_FEATURES + self._task.encoder.dim, self.hidden)
            self._scorer.load_state_dict(self._task.scorer)
            self._scorer.eval()

    def propose(self) -> Config:
        if self._task is None:
            return super().propose()
        candidates = self.candidates(self.n_incumbents)
        if not len(candidates):
            return self.random_untried()
        task = self._task
        x_seen = np.array([self.space.encode(config) for config, _ in self.history]).reshape(-1, self.space.dim)
        utilities = [self.utility(metric) for _, metric in self.history]
        budget = max(self.card.budget, 1)
        features = candidate_features(x_seen, utilities, candidates.x, task.encoder(self.space, candidates.configs),
                                      len(self.history) / budget, budget / self.horizon, task.gp_settings)
        with torch.no_grad(), one_thread():
            scores = self._scorer.forward_actor(torch.as_tensor(features).reshape(1, -1)).numpy()[0]
        return dict(candidates.configs[argmax_random_ties(scores.astype(np.float64), self.rng)])
