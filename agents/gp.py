"""Gaussian-process posterior and acquisition over a candidate set, with BoTorch and GPyTorch.

Shared by the model-based agents (``gp-bo``, ``fsbo``, ``fidelity-transfer``;
``metabo`` fits its fixed hyperparameters here): one place decides how
observations are warped, how the GP is fit and how expected improvement is
computed, so agents differ only in what they add.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from botorch.acquisition.analytic import LogExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from scipy.stats import norm, rankdata

#: Candidates scored per batch (bounds memory on large candidate sets).
CHUNK = 4_096
DTYPE = torch.float64


def copula(y: np.ndarray) -> np.ndarray:
    """Utilities mapped to normal quantiles of their ranks (ties share a rank).

    A diverged run's loss can be 1000x the rest; standardized raw values would
    flatten every other difference. Ranks keep the order and nothing else,
    which is what an acquisition over few points needs (HEBO and FSBO make
    similar warping choices).
    """
    y = np.asarray(y, dtype=np.float64)
    ranks = rankdata(y, method="average")
    return norm.ppf((ranks - 0.5) / len(y))


def fit_gp(x: np.ndarray, y: np.ndarray, state: dict[str, torch.Tensor] | None = None) -> SingleTaskGP:
    """An exact GP on ``x`` (rows in [0, 1]^d) and utilities ``y`` (higher is better), hyperparameters by MLL.

    Outcomes are standardized; with a single observation the GP keeps its
    priors (there is nothing to fit). ``state`` restores a fitted model's
    hyperparameters instead of fitting them again.
    """
    train_x = torch.as_tensor(np.asarray(x), dtype=DTYPE)
    train_y = torch.as_tensor(np.asarray(y, dtype=np.float64).reshape(-1, 1), dtype=DTYPE)
    model = SingleTaskGP(train_x, train_y, outcome_transform=Standardize(m=1))
    if state is not None:
        model.load_state_dict(state)
    elif len(train_x) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optimizer warnings on tiny data sets; the fit still stands
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    model.eval()
    return model


def posterior_mean_std(model: SingleTaskGP, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and standard deviation of the utility at each row of ``x``."""
    means, stds = [], []
    with torch.no_grad():
        for start in range(0, len(x), CHUNK):
            post = model.posterior(torch.as_tensor(x[start : start + CHUNK], dtype=DTYPE))
            means.append(post.mean.squeeze(-1).numpy())
            stds.append(post.variance.clamp_min(1e-12).sqrt().squeeze(-1).numpy())
    return np.concatenate(means), np.concatenate(stds)


def log_expected_improvement(model: SingleTaskGP, x: np.ndarray, best_y: float) -> np.ndarray:
    """log EI over the best utility observed so far, per row of ``x`` (BoTorch's numerically stable form)."""
    acquisition = LogExpectedImprovement(model, best_f=best_y)
    out = []
    with torch.no_grad():
        for start in range(0, len(x), CHUNK):
            batch = torch.as_tensor(x[start : start + CHUNK], dtype=DTYPE).unsqueeze(-2)
            out.append(acquisition(batch).numpy())
    return np.concatenate(out)


def argmax_random_ties(scores: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the highest score; ties broken at random (flat acquisitions are common at step 2)."""
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return int(best[int(rng.integers(len(best)))])

