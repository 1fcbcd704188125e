"""Optuna through ask/tell: TPE by default, any of Optuna's cheap samplers by name.

Each parameter becomes an Optuna distribution: numbers a float/int range
(log-scaled where the space says so), choices a categorical. An
architecture is asked define-by-run (width, depth, then one head count and
MLP ratio per used layer, bias), so every suggestion is valid. A table space
has only some combinations run; a suggestion that is not one of them (or
was already tried) is replaced by the nearest untried config, the suggestion
is told as failed and the config actually evaluated is added as a completed
trial, so the sampler learns from what was measured.

TPE's default of 10 random start-up trials would make it random search at
the paper's budgets of 1-5, so the start-up is one trial (``n_startup_trials``).
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from agents.config_agent import ConfigAgent
from gymnasium_llmconfig.config_space import Config, Parameter
from gymnasium_llmconfig.tasks.arch.space import ArchConfigSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_sampler(name: str, seed: int | None, n_startup_trials: int) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by short name."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials, multivariate=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup_trials)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=n_startup_trials,
                                            warn_independent_sampling=False)
    raise ValueError(f"unknown Optuna sampler {name!r}")


def distribution(parameter: Parameter) -> BaseDistribution:
    """The Optuna distribution of one table parameter."""
    if not parameter.is_numeric:
        return CategoricalDistribution(parameter.choices)
    low, high = min(parameter.choices), max(parameter.choices)
    if low == high:
        return CategoricalDistribution(parameter.choices)
    log = parameter.log and low > 0
    if parameter.kind == "int":
        return IntDistribution(int(low), int(high), log=log)
    return FloatDistribution(float(low), float(high), log=log)


class OptunaAgent(ConfigAgent):
    def __init__(self, sampler: str = "tpe", n_startup_trials: int = 1):
        super().__init__()
        self.sampler_name = sampler
        self.n_startup_trials = n_startup_trials
        self.name = f"optuna-{sampler}"

    def start_episode(self) -> None:
        seed = int(self.rng.integers(2**31))
        direction = "maximize" if self.maximize else "minimize"
        self.study = optuna.create_study(
            direction=direction, sampler=make_sampler(self.sampler_name, seed, self.n_startup_trials))
        self._trial: optuna.trial.Trial | None = None
        self._exact = False
        space = self.space
        self._distributions = {} if isinstance(space, ArchConfigSpace) else {
            p.name: distribution(p) for p in space.parameters}

    def propose(self) -> Config:
        self._trial = self.study.ask(self._distributions or None)
        if isinstance(self.space, ArchConfigSpace):
            suggestion = self._ask_architecture(self._trial)
        else:
            suggestion = {name: self._trial.params[name] for name in self._distributions}
        config = self._nearest_untried(suggestion)
        self._exact = self.space.contains(suggestion) and self.space.key(config) == self.space.key(
            self.space.canonicalize(suggestion))
        return config

    def learn(self, config: Config, metric: float) -> None:
        if self._trial is None:
            return
        if self._exact:
            self.study.tell(self._trial, metric)
        else:  # the measured config differs from the suggestion: record what was measured
            self.study.tell(self._trial, state=TrialState.FAIL)
            if self._distributions:
                params = {name: config[name] for name in self._distributions}
                self.study.add_trial(optuna.trial.create_trial(
                    params=params, distributions=self._distributions, value=metric))
        self._trial = None

    def _ask_architecture(self, trial: optuna.trial.Trial) -> Config:
        spec = self.space.spec
        trial.suggest_categorical("embed_dim", spec.embed_dims)
        n_layer = trial.suggest_categorical("n_layer", spec.n_layers)
        for i in range(n_layer):
            trial.suggest_categorical(f"heads_{i}", spec.heads)
            trial.suggest_categorical(f"mlp_ratio_{i}", spec.mlp_ratios)
        trial.suggest_categorical("bias", (False, True))
        return self._architecture_from(trial.params)

    @staticmethod
    def _architecture_from(params: dict[str, Any]) -> Config:
        n = params["n_layer"]
        return {"embed_dim": params["embed_dim"], "n_layer": n,
                "heads": [params[f"heads_{i}"] for i in range(n)],
                "mlp_ratios": [params[f"mlp_ratio_{i}"] for i in range(n)], "bias": params["bias"]}

    def _nearest_untried(self, suggestion: dict[str, Any]) -> Config:
        space = self.space
        if not space.is_finite:
            config = space.canonicalize(suggestion)
            return config if not self.tried(config) else self.random_untried()
        left = self.untried_indices()
        if len(left) == 0:
            return self.random_untried()
        position = np.array([p.unit_position(suggestion[p.name]) for p in space.parameters])
        encoded = space.encode_all()[left]
        return dict(space.enumerate()[int(left[np.argmin(((encoded - position) ** 2).sum(axis=1))])])


#: Optuna's other cheap samplers as zoo entries (setup.cfg declares them as ``optuna-<sampler>``).
OPTUNA_RANDOM = partial(OptunaAgent, sampler="random")
OPTUNA_QMC = partial(OptunaAgent, sampler="qmc")
OPTUNA_GP = partial(OptunaAgent, sampler="gp")
OPTUNA_CMAES = partial(OptunaAgent, sampler="cmaes")
