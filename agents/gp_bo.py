"""Gaussian-process BO: what a practitioner reaches for first with a handful of evaluations.

An exact GP (BoTorch ``SingleTaskGP``, Matérn-5/2 ARD kernel, standardized
outcomes, hyperparameters by marginal likelihood) on rank-warped
utilities (:func:`agents.gp.copula`), over the space's vector
encoding; log expected improvement maximized over the candidate set (every
untried config of a finite space, sampled members and neighbours of the
incumbents otherwise). The
first ``n_initial`` proposals are random: a GP on nothing has nothing to say.
Architecture mutants are drawn around the ``n_incumbents`` best configs seen.
"""

from __future__ import annotations

import numpy as np

from agents.config_agent import ConfigAgent
from agents.gp import argmax_random_ties, copula, fit_gp, log_expected_improvement
from gymnasium_llmconfig.config_space import Config


class GPBO(ConfigAgent):
    name = "gp-bo"

    def __init__(self, n_initial: int = 1, n_incumbents: int = 3):
        super().__init__()
        if n_initial < 1 or n_incumbents < 1:
            raise ValueError(f"n_initial and n_incumbents must be at least 1, got {n_initial} and {n_incumbents}")
        self.n_initial = n_initial
        self.n_incumbents = n_incumbents

    def propose(self) -> Config:
        if len(self.history) < self.n_initial:
            return self.random_untried()
        candidates = self.candidates(self.n_incumbents)
        if not len(candidates):
            return self.random_untried()
        x = np.array([self.space.encode(c) for c, _ in self.history])
        y = copula(np.array([self.utility(m) for _, m in self.history]))
        model = fit_gp(x, y)
        scores = log_expected_improvement(model, candidates.x, float(y.max()))
        return candidates.configs[argmax_random_ties(scores, self.rng)]
