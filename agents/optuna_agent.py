"""Optuna through ask/tell: TPE by default, any of Optuna's cheap samplers by name.

Each parameter becomes an Optuna distribution: numbers a float/int range
(log-scaled where the space says so), choices a categorical. A space too
large to list is asked define-by-run, one categorical per decision, reading
the space's declared conditional structure: a per-layer parameter gets one
decision per entry once the parameter that sets its length is drawn (for an
architecture: width, depth, then one head count and MLP ratio per used layer,
bias), so every suggestion is valid. A table space
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
from gymnasium_llmconfig.config_space import Config, Parameter, PerLayerParameter

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


def ask_define_by_run(trial: optuna.trial.Trial, parameters: tuple[Parameter, ...]) -> Config:
    """One categorical decision per value, in space order.

    Per-layer parameters of one length are drawn together, entry by entry
    (``heads_0``, ``mlp_ratios_0``, ``heads_1``, ...), when the first of them is
    reached, ``length_from`` having been drawn before it.
    """
    config: Config = {}
    for p in parameters:
        if not isinstance(p, PerLayerParameter):
            config[p.name] = trial.suggest_categorical(p.name, p.choices)
        elif p.name not in config:
            group = [q for q in parameters if isinstance(q, PerLayerParameter) and q.length_from == p.length_from]
            for q in group:
                config[q.name] = []
            for i in range(config[p.length_from]):
                for q in group:
                    config[q.name].append(trial.suggest_categorical(f"{q.name}_{i}", q.choices))
    return config


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
        # A finite space's suggestion is moved to the nearest untried listed config, so numbers may be
        # ranges; any other space must be asked for members, decision by decision.
        self._distributions = {p.name: distribution(p) for p in space.parameters} if space.is_finite else {}

    def propose(self) -> Config:
        self._trial = self.study.ask(self._distributions or None)
        if self._distributions:
            suggestion = {name: self._trial.params[name] for name in self._distributions}
        else:
            suggestion = ask_define_by_run(self._trial, self.space.parameters)
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
