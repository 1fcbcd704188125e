"""Fidelity transfer: learn from cheap runs where the optimum sits as a function of fidelity, then extrapolate.

None of the source papers ran this baseline, and it is the one a scaling-law
practitioner would: Step Law fits how the optimal learning rate and batch
size move with model size N and data size D; here a GP learns it.

``fit`` trains, per task, one GP over (config features, fidelity features)
on every training env's runs: config features are absolute
(:class:`agents.features.TransferEncoder`: log2 LR is the same number in
every cell), fidelity features are log10 of the fidelity metadata that varies
(N and D for Step Law, model size for ADMIRE and RegMix), and each env's
outcomes are rank-warped (:func:`agents.gp.copula`) so that envs with
different loss levels teach the same thing: which configs are good there.

At the target fidelity, before any budget is spent, the GP's posterior mean
at the target's fidelity features ranks every candidate: the first proposal
is its argmax. After that, observations correct the prior: a GP on the
target's own observations models the residual between their warped
utilities and the (standardized) prior mean, and expected improvement is
taken under prior + residual. A task the agent was not fitted on falls back
to GP-BO's behaviour (random first proposal, then EI).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import norm

from agents.candidates import Candidates
from agents.config_agent import ConfigAgent
from agents.features import TransferEncoder, fidelity_features, shared_numeric_keys
from agents.gp import argmax_random_ties, copula, fit_gp, posterior_mean_std
from agents.persistence import SavedAgent
from agents.training import training_runs
from gymnasium_llmconfig.config_space import Config, Parameter
from gymnasium_llmconfig.training_data import TrainingEnv, TrainingSet


@dataclass
class TaskModel:
    """The fitted cross-fidelity model of one task (arrays, an encoder and a state dict: it saves as safetensors)."""

    encoder: TransferEncoder
    keys: list[str]
    fidelity_low: np.ndarray
    fidelity_span: np.ndarray
    train_x: np.ndarray
    train_y: np.ndarray
    state: dict[str, torch.Tensor]

    def fidelity_vector(self, metadata: dict) -> np.ndarray:
        return (fidelity_features(metadata, self.keys) - self.fidelity_low) / self.fidelity_span

    def prior_mean(self, features: np.ndarray, fidelity: np.ndarray) -> np.ndarray:
        """Posterior mean of the warped utility at configs ``features`` and fidelity ``fidelity``."""
        if not hasattr(self, "_model"):
            self._model = fit_gp(self.train_x, self.train_y, state=self.state)
        z = np.hstack([features, np.repeat(fidelity[None, :], len(features), axis=0)])
        return posterior_mean_std(self._model, z)[0]

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_model"}


class FidelityTransfer(ConfigAgent, SavedAgent):
    """Cross-fidelity GP prior, then EI on the residuals.

    Args:
        max_points: training runs kept per task (split evenly over its envs, at least 8 each).
        seed: seeds the fit (numpy and torch).
        arch_samples: architectures drawn per training env of an infinite space (answered by its surrogate).
        n_incumbents: best configs seen whose mutants join the candidates of an architecture space.
        scale_keys: fidelity metadata keys that measure scale, preferred over derived ones (d_model,
            compute_6ND, ...) when present; otherwise every numeric key that varies is used.
    """

    name = "fidelity-transfer"
    state_types = (TaskModel, TransferEncoder, Parameter)

    def __init__(self, max_points: int = 300, seed: int = 0, arch_samples: int = 300, n_incumbents: int = 3,
                 scale_keys: Sequence[str] = ("N", "D", "model_params", "n_params", "tokens")):
        super().__init__()
        self.max_points = max_points
        self.seed = seed
        self.arch_samples = arch_samples
        self.n_incumbents = n_incumbents
        self.scale_keys = tuple(scale_keys)
        self.models: dict[str, TaskModel] = {}

    def fit(self, training_set: TrainingSet) -> None:
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.models = {task: self._fit_task(envs, rng) for task, envs in training_set.by_task().items()}

    def fitted_state(self) -> dict[str, TaskModel]:
        return self.models

    def restore_state(self, state: dict[str, Any]) -> None:
        self.models = state

    def _fit_task(self, envs: list[TrainingEnv], rng: np.random.Generator) -> TaskModel:
        encoder = TransferEncoder([e.space for e in envs])
        metadatas = [e.metadata for e in envs]
        keys = shared_numeric_keys(metadatas)
        keys = [k for k in keys if k in self.scale_keys] or keys
        raw_fidelity = np.array([fidelity_features(m, keys) for m in metadatas]).reshape(len(envs), len(keys))
        low = raw_fidelity.min(axis=0)
        span = np.where(raw_fidelity.max(axis=0) > low, raw_fidelity.max(axis=0) - low, 1.0)
        per_env = max(8, self.max_points // len(envs))
        xs, ys = [], []
        for env, fidelity in zip(envs, (raw_fidelity - low) / span, strict=True):
            configs, utility = training_runs(env, rng, arch_samples=self.arch_samples, limit=per_env)
            features = encoder(env.space, configs)
            xs.append(np.hstack([features, np.repeat(fidelity[None, :], len(configs), axis=0)]))
            ys.append(copula(utility))
        train_x, train_y = np.vstack(xs), np.concatenate(ys)
        model = fit_gp(train_x, train_y)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return TaskModel(encoder, keys, low, span, train_x, train_y, state)

    def propose(self) -> Config:
        candidates = self.candidates(self.n_incumbents)
        if not len(candidates):
            return self.random_untried()
        model = self.models.get(self.card.task.name)
        if model is None and not self.history:
            return self.random_untried()
        prior = self._prior(model, candidates)
        if not self.history:
            return candidates.configs[argmax_random_ties(prior[: len(candidates)], self.rng)]
        return candidates.configs[argmax_random_ties(self._expected_improvement(prior, candidates), self.rng)]

    def _prior(self, model: TaskModel | None, candidates: Candidates) -> np.ndarray:
        """Standardized prior mean at the candidates followed by the observed configs (zeros without a model)."""
        observed = [c for c, _ in self.history]
        if model is None:
            return np.zeros(len(candidates) + len(observed))
        features = model.encoder(self.space, [*candidates.configs, *observed])
        mean = model.prior_mean(features, model.fidelity_vector(dict(self.card.fidelity.metadata)))
        return (mean - mean.mean()) / (mean.std() or 1.0)

    def _expected_improvement(self, prior: np.ndarray, candidates: Candidates) -> np.ndarray:
        """EI under prior mean + a GP on the residuals of the target's observations."""
        n = len(candidates)
        y = copula(np.array([self.utility(m) for _, m in self.history]))
        x = np.array([self.space.encode(c) for c, _ in self.history])
        residual = fit_gp(x, y - prior[n:])
        mean, std = posterior_mean_std(residual, candidates.x)
        mean = mean + prior[:n]
        z = (mean - y.max()) / std
        return std * (norm.pdf(z) + z * norm.cdf(z))

