"""NAP: a transformer neural process that outputs the acquisition directly (Maraval et al., NeurIPS 2023).

"End-to-End Meta-Bayesian Optimisation with Transformer Neural Processes":
one network replaces both the surrogate and the acquisition function. Its
input is the state ``{H_t, t, T}`` (§4): the history of evaluated configs with
their observed values, and the step and budget. Every history point and
every candidate is a token; history tokens attend to the history, a
candidate token attends to the history and to itself but never to another
candidate (the NP's conditional independence of targets, §4.1), so a
candidate's outputs do not depend on which other candidates are offered.
Per candidate the network outputs an acquisition score (the policy is the
softmax over the candidates; greedy at test time) and, from its NP head, a
Gaussian over the candidate's value.

Training (§4.2) is end-to-end: REINFORCE on BO episodes of the training
envs (:mod:`agents.bo_episode`) with the regret-based reward ``r_t = -R_t``
(normalized simple regret after step ``t``; returns-to-go, a per-step batch
mean as baseline) plus the auxiliary loss the paper adds because regret alone
is too sparse a signal for a transformer trained from scratch: the Gaussian
negative log-likelihood of every offered candidate's value under the NP head
(:func:`auxiliary_nll`). Values are seen as the episode's standardized
utilities in the history; the NP head predicts a candidate's value as the
normal quantile of its rank in its env's table (a Gaussian copula, as FSBO's
targets), a scale that means the same at every fidelity. Config features are
the task's :class:`~agents.features.TransferEncoder` features, so one network
per task is meta-trained on all of the task's training envs (REINFORCE where
the paper uses PPO: the episodes are at most five steps, so the returns are
short and low-variance enough). A task seen in no training env is played as
``gp-bo`` plays it. The first proposal is the network's too: with an empty
history (a learned "no data" token stands in) its scores are a prior over
configs learned from the cheaper fidelities. Saved as safetensors state dicts
plus JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.bo_episode import BOEpisode, TrainingTable, standardized
from agents.features import TransferEncoder
from agents.fsbo import one_thread
from agents.gp import argmax_random_ties
from agents.gp_bo import GPBO
from agents.persistence import SavedAgent
from gymnasium_llmconfig.config_space import Config, Parameter
from gymnasium_llmconfig.training_data import TrainingEnv, TrainingSet

#: Inputs per token beyond the config features: (value, t / T, T / horizon) for history tokens, (t / T, T / horizon)
#: for candidates.
HISTORY_EXTRA, CANDIDATE_EXTRA = 3, 2
#: The NP head's log standard deviation is kept in this range (a degenerate likelihood is no guidance).
LOG_STD_RANGE = (-5.0, 3.0)


@dataclass
class TaskNetwork:
    """What NAP learned for one task: the feature encoder and the network's weights."""

    encoder: TransferEncoder
    state: dict[str, torch.Tensor]


class CandidateAttention(nn.Module):
    """Multi-head attention whose queries see the history (plus, for candidates, themselves) and nothing else."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def _split(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, n, width = tokens.shape
        q, k, v = self.qkv(tokens).view(batch, n, 3, self.heads, width // self.heads).unbind(dim=2)
        return q, k, v

    def forward(self, history: torch.Tensor, candidates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H, W) history and (B, N, W) candidates -> their attention outputs, same shapes."""
        hq, hk, hv = self._split(history)
        cq, ck, cv = self._split(candidates)
        scale = 1.0 / math.sqrt(hq.shape[-1])
        history_weights = torch.einsum("bihd,bjhd->bhij", hq, hk).mul(scale).softmax(dim=-1)
        history_out = torch.einsum("bhij,bjhd->bihd", history_weights, hv)
        to_history = torch.einsum("bnhd,bjhd->bnhj", cq, hk) * scale
        to_self = (cq * ck).sum(dim=-1, keepdim=True) * scale  # (B, N, heads, 1): each candidate's own key only
        weights = torch.cat([to_history, to_self], dim=-1).softmax(dim=-1)
        candidate_out = torch.einsum("bnhj,bjhd->bnhd", weights[..., :-1], hv) + weights[..., -1:] * cv
        return (self.out(history_out.flatten(start_dim=2)), self.out(candidate_out.flatten(start_dim=2)))


class Block(nn.Module):
    """A pre-norm transformer block over (history, candidates) with :class:`CandidateAttention`."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm_attention = nn.LayerNorm(width)
        self.attention = CandidateAttention(width, heads)
        self.norm_mlp = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, history: torch.Tensor, candidates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = self.attention(self.norm_attention(history), self.norm_attention(candidates))
        history, candidates = history + h, candidates + c
        return history + self.mlp(self.norm_mlp(history)), candidates + self.mlp(self.norm_mlp(candidates))


class NeuralAcquisitionProcess(nn.Module):
    """The NAP network: per candidate an acquisition score and a Gaussian (mean, log std) over its value."""

    def __init__(self, dim: int, width: int = 32, heads: int = 2, layers: int = 2):
        super().__init__()
        self.embed_history = nn.Linear(dim + HISTORY_EXTRA, width)
        self.embed_candidate = nn.Linear(dim + CANDIDATE_EXTRA, width)
        self.no_data = nn.Parameter(torch.zeros(1, 1, width))  # always in the history: the "nothing seen yet" token
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.acquisition = nn.Linear(width, 1)
        self.likelihood = nn.Linear(width, 2)

    def forward(self, history_x: torch.Tensor, history_y: torch.Tensor, candidates_x: torch.Tensor,
                time: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Shapes: history_x (B, H, d), history_y (B, H), candidates_x (B, N, d), time (B, 2) = (t / T, T / horizon).

        Returns scores, NP means and NP log stds, each (B, N).
        """
        batch, n_history, n = history_x.shape[0], history_x.shape[1], candidates_x.shape[1]
        history = self.embed_history(torch.cat([history_x, history_y.unsqueeze(-1),
                                                time.unsqueeze(1).expand(batch, n_history, 2)], dim=-1))
        history = torch.cat([self.no_data.expand(batch, 1, -1), history], dim=1)
        candidates = self.embed_candidate(torch.cat([candidates_x, time.unsqueeze(1).expand(batch, n, 2)], dim=-1))
        for block in self.blocks:
            history, candidates = block(history, candidates)
        candidates = self.norm(candidates)
        mean, log_std = self.likelihood(candidates).unbind(dim=-1)
        return self.acquisition(candidates).squeeze(-1), mean, log_std.clamp(*LOG_STD_RANGE)


def auxiliary_nll(mean: torch.Tensor, log_std: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Gaussian negative log-likelihood of ``target`` under N(mean, exp(log_std)^2) (NAP's auxiliary loss)."""
    return (0.5 * math.log(2 * math.pi) + log_std + 0.5 * ((target - mean) / log_std.exp()).square()).mean()


def _tensor(array: np.ndarray | Sequence) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float32))


class NAP(GPBO, SavedAgent):
    """Neural Acquisition Process: a transformer over history and candidates, meta-trained per task with RL.

    Args:
        iterations: training updates per task; each plays ``episodes`` BO episodes in lockstep on one training env.
        episodes: episodes per update (the REINFORCE batch; their per-step mean return is the baseline).
        n_candidates: candidates offered per training step.
        horizon: longest training episode (the leaderboard's largest budget); budgets are drawn in 1..horizon.
        width, heads, layers: the transformer's size.
        learning_rate: Adam's step size.
        aux_weight: weight of the auxiliary likelihood loss against the RL loss.
        ent_coef: entropy bonus of the policy.
        seed: seeds the training draws (numpy and torch).
        neighbour_share: share of an infinite space's training candidate set drawn as neighbours of the incumbent.
        n_incumbents: GP-BO's argument, for tasks seen in no training env and the test-time candidate set.
    """

    name = "nap"
    state_types = (TaskNetwork, TransferEncoder, Parameter)

    def __init__(self, iterations: int = 300, episodes: int = 16, n_candidates: int = 32, horizon: int = 5,
                 width: int = 32, heads: int = 2, layers: int = 2, learning_rate: float = 1e-3,
                 aux_weight: float = 0.5, ent_coef: float = 0.01, seed: int = 0, neighbour_share: float = 0.25,
                 n_incumbents: int = 3):
        super().__init__(n_initial=1, n_incumbents=n_incumbents)
        if iterations < 0 or episodes < 2 or n_candidates < 2 or horizon < 1:
            raise ValueError("NAP needs iterations >= 0, episodes >= 2, n_candidates >= 2 and horizon >= 1")
        self.iterations = iterations
        self.episodes = episodes
        self.n_candidates = n_candidates
        self.horizon = horizon
        self.width = width
        self.heads = heads
        self.layers = layers
        self.learning_rate = learning_rate
        self.aux_weight = aux_weight
        self.ent_coef = ent_coef
        self.seed = seed
        self.neighbour_share = neighbour_share
        self.tasks: dict[str, TaskNetwork] | None = None
        self._task: TaskNetwork | None = None
        self._network: NeuralAcquisitionProcess | None = None

    # --- meta-training ----------------------------------------------------------------------
    def fit(self, training_set: TrainingSet) -> None:
        """Meta-train one network per task on BO episodes of that task's training envs."""
        grouped = training_set.by_task()
        if not grouped:
            raise ValueError("NAP.fit needs at least one training env")
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        with one_thread():
            self.tasks = {task: self._fit_task(grouped[task], rng) for task in sorted(grouped)}

    def _network_for(self, dim: int) -> NeuralAcquisitionProcess:
        return NeuralAcquisitionProcess(dim, self.width, self.heads, self.layers)

    def _fit_task(self, envs: Sequence[TrainingEnv], rng: np.random.Generator) -> TaskNetwork:
        encoder = TransferEncoder([e.space for e in envs])
        tables = [TrainingTable(e, encoder, rng) for e in envs]
        network = self._network_for(encoder.dim)
        optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        network.train()
        for _ in range(self.iterations):
            table = tables[int(rng.integers(len(tables)))]
            budget = int(rng.integers(1, self.horizon + 1))
            loss = self._episode_loss(network, [BOEpisode(table, budget, rng, self.neighbour_share)
                                                for _ in range(self.episodes)])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        network.eval()
        return TaskNetwork(encoder, {k: v.detach().clone() for k, v in network.state_dict().items()})

    def _episode_loss(self, network: NeuralAcquisitionProcess, episodes: list[BOEpisode]) -> torch.Tensor:
        """Play the episodes in lockstep; REINFORCE on returns-to-go of ``-R_t`` plus the auxiliary NLL."""
        log_probs, entropies, rewards, nlls = [], [], [], []
        while not episodes[0].done:
            drawn = [episode.candidates(self.n_candidates) for episode in episodes]
            scores, mean, log_std = network(*self._inputs(episodes, [d[2] for d in drawn]))
            policy = torch.distributions.Categorical(logits=scores)
            actions = policy.sample()
            targets = [e.table.quantile(e.table.env.utilities(d[0])) for e, d in zip(episodes, drawn, strict=True)]
            nlls.append(auxiliary_nll(mean, log_std, _tensor(np.stack(targets))))
            log_probs.append(policy.log_prob(actions))
            entropies.append(policy.entropy())
            for episode, (configs, x, features), row in zip(episodes, drawn, actions.tolist(), strict=True):
                episode.evaluate(configs[row], x[row], features[row])
            rewards.append([-episode.regret for episode in episodes])
        returns = torch.as_tensor(np.cumsum(np.array(rewards)[::-1], axis=0)[::-1].copy(), dtype=torch.float32)
        advantages = returns - returns.mean(dim=1, keepdim=True)
        rl = -(advantages * torch.stack(log_probs)).mean() - self.ent_coef * torch.stack(entropies).mean()
        return rl + self.aux_weight * torch.stack(nlls).mean()

    def _inputs(self, episodes: Sequence[BOEpisode], candidate_features: Sequence[np.ndarray]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Network inputs for episodes at the same step (equal history lengths)."""
        dim = episodes[0].table.encoder.dim
        history_x = _tensor([np.array(e.features_seen).reshape(-1, dim) for e in episodes])
        history_y = _tensor([standardized(e.utilities) for e in episodes]).reshape(len(episodes), -1)
        time = _tensor([[e.used, e.budget / self.horizon] for e in episodes])
        return history_x, history_y, _tensor(np.stack(candidate_features)), time

    def fitted_state(self) -> dict[str, TaskNetwork]:
        if self.tasks is None:
            raise RuntimeError("NAP has no network to save: call fit(training_set) first")
        return self.tasks

    def restore_state(self, state: dict[str, TaskNetwork]) -> None:
        self.tasks = state

    # --- playing ------------------------------------------------------------------------------
    def start_episode(self) -> None:
        if self.tasks is None:
            raise RuntimeError("NAP has no network: call fit(training_set) first, or NAP.load(path) "
                               "an agent saved with save(path)")
        self._task = self.tasks.get(self.card.task.name)
        if self._task is not None:
            self._network = self._network_for(self._task.encoder.dim)
            self._network.load_state_dict(self._task.state)
            self._network.eval()

    def propose(self) -> Config:
        if self._task is None:
            return super().propose()
        candidates = self.candidates(self.n_incumbents)
        if not len(candidates):
            return self.random_untried()
        scores = self.scores([c for c, _ in self.history], [self.utility(m) for _, m in self.history],
                             candidates.configs)
        return dict(candidates.configs[argmax_random_ties(scores.astype(np.float64), self.rng)])

    def scores(self, seen: Sequence[Config], utilities: Sequence[float], candidates: Sequence[Config]) -> np.ndarray:
        """The acquisition score of each candidate given the evaluated configs and their utilities."""
        encoder, budget = self._task.encoder, max(self.card.budget, 1)
        seen_x = encoder(self.space, seen) if seen else np.zeros((0, encoder.dim))
        history_x = _tensor(seen_x).reshape(1, len(seen), encoder.dim)
        history_y = _tensor(standardized(utilities)).reshape(1, len(seen))
        time = _tensor([[len(seen) / budget, budget / self.horizon]])
        with torch.no_grad(), one_thread():
            score, _, _ = self._network(history_x, history_y, _tensor(encoder(self.space, candidates))[None], time)
        return score[0].numpy()
