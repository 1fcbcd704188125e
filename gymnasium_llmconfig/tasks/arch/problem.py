"""The Arch problem: minimise perplexity/max_ppl + FLOPs/max_flops over one GPT scale.

The space is far too large to enumerate, so the normalising maxima and the
best/worst reference values come from a fixed, seeded reference pool: the 32
corner architectures plus ``pool_size`` uniform samples, evaluated once in a
batch and cached (keyed by scale, pool size, seed and weights sha256) so env
construction after the first is a file read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gymnasium_llmconfig.config_space import Config
from gymnasium_llmconfig.problem import FidelityInfo, Outcome, Problem, TaskInfo
from gymnasium_llmconfig.tasks.arch import formulas
from gymnasium_llmconfig.tasks.arch.space import ArchBatch, ArchConfigSpace
from gymnasium_llmconfig.tasks.arch.surrogate import (
    PerplexitySurrogate,
    active_positions,
    atomic_savez,
    load_surrogate,
)

POOL_FORMAT = 1


class ArchProblem(Problem):
    """One HW-GPT-Bench scale as a problem; outcomes come from the surrogate and the FLOPs formula."""

    def __init__(
        self,
        env_id: str,
        task: TaskInfo,
        fidelity: FidelityInfo,
        scale: str,
        weights_path: Path,
        cache_dir: Path,
        pool_size: int = 10_000,
        pool_seed: int = 0,
    ):
        if task.direction != "minimize":
            raise ValueError(f"{env_id}: the Arch target is minimised, got direction={task.direction!r}")
        if int(pool_size) < 0:
            raise ValueError(f"{env_id}: pool_size must be >= 0, got {pool_size}")
        self.env_id = env_id
        self.task = task
        self.fidelity = fidelity
        self.space = ArchConfigSpace(scale)
        self.scale = self.space.scale
        self.pool_size = int(pool_size)
        self.pool_seed = int(pool_seed)
        self.cache_dir = Path(cache_dir)
        self.surrogate: PerplexitySurrogate = load_surrogate(self.scale, weights_path, self.cache_dir)
        self._pool, self._pool_ppl, self._pool_flops, self._pool_params = self._load_or_build_pool()

        ppl = self._pool_ppl.astype(np.float64)
        #: Normalisers of the target (maxima over the reference pool).
        self.max_perplexity = float(ppl.max())
        self.max_flops = int(self._pool_flops.max())
        self._pool_target = ppl / self.max_perplexity + self._pool_flops / self.max_flops
        self._order = np.argsort(self._pool_target, kind="stable")
        best, worst = int(self._order[0]), int(self._order[-1])
        self.best_value = float(self._pool_target[best])
        self.worst_value = float(self._pool_target[worst])
        self.best_config: Config = self._pool.config(best)

    # ------------------------------------------------------------- oracle
    def evaluate(self, canonical: Mapping[str, Any]) -> Outcome:
        """Target and details of one canonical architecture (tens of microseconds)."""
        ppl = self.surrogate.predict_positions(active_positions(self.space.spec, canonical))
        d, n = canonical["embed_dim"], canonical["n_layer"]
        params = formulas.param_count_from_sums(d, n, sum(canonical["heads"]), sum(canonical["mlp_ratios"]))
        flops = formulas.flops_from_params(d, n, params)
        # Same float64 operations as the pool, so pool members reproduce their pool value exactly.
        ppl_term = ppl / self.max_perplexity
        flops_term = flops / self.max_flops
        metric = ppl_term + flops_term
        return Outcome(
            metric,
            {
                "perplexity": ppl,
                "flops": flops,
                "params": params,
                "ppl_term": ppl_term,
                "flops_term": flops_term,
                "beats_pool_best": metric < self.best_value,
            },
        )

    def top_configs(self, k: int) -> list[tuple[Config, float]]:
        """The ``k`` best pool architectures with their target, best first."""
        return [(self._pool.config(int(i)), float(self._pool_target[i])) for i in self._order[: max(int(k), 0)]]

    @property
    def pool_len(self) -> int:
        """Number of distinct architectures in the reference pool (corners + samples)."""
        return len(self._pool)

    # --------------------------------------------------------------- pool
    def pool_cache_path(self) -> Path:
        sha = self.surrogate.source_sha256[:16]
        name = f"arch_pool_{self.scale}_n{self.pool_size}_seed{self.pool_seed}_{sha}_v{POOL_FORMAT}.npz"
        return self.cache_dir / name

    def build_pool(self) -> tuple[ArchBatch, np.ndarray, np.ndarray, np.ndarray]:
        """Corners + ``pool_size`` seeded uniform samples, de-duplicated (first kept), evaluated in batch."""
        rng = np.random.default_rng(self.pool_seed)
        batch = ArchBatch.concat([self.space.corners(), self.space.sample_batch(rng, self.pool_size)])
        _, first = np.unique(batch.index_matrix(), axis=0, return_index=True)
        batch = batch.take(np.sort(first))
        params = batch.params()
        flops = formulas.flops_array(batch.embed_dim, batch.n_layer, params)
        return batch, self.surrogate.predict_batch(batch), flops, params

    def _load_or_build_pool(self) -> tuple[ArchBatch, np.ndarray, np.ndarray, np.ndarray]:
        path = self.pool_cache_path()
        cached = self._read_pool(path)
        if cached is not None:
            return cached
        batch, ppl, flops, params = self.build_pool()
        atomic_savez(
            path,
            {
                "format": np.int64(POOL_FORMAT),
                "scale": np.str_(self.scale),
                "pool_size": np.int64(self.pool_size),
                "pool_seed": np.int64(self.pool_seed),
                "weights_sha256": np.str_(self.surrogate.source_sha256),
                "index": batch.index_matrix().astype(np.int8),
                "perplexity": ppl,
                "flops": flops,
                "params": params,
            },
            compressed=True,
        )
        return batch, ppl, flops, params

    def _read_pool(self, path: Path) -> tuple[ArchBatch, np.ndarray, np.ndarray, np.ndarray] | None:
        """The cached pool, or None if missing, corrupt or made for other settings."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta_ok = (
                    int(z["format"]) == POOL_FORMAT
                    and str(z["scale"]) == self.scale
                    and int(z["pool_size"]) == self.pool_size
                    and int(z["pool_seed"]) == self.pool_seed
                    and str(z["weights_sha256"]) == self.surrogate.source_sha256
                )
                if not meta_ok:
                    return None
                batch = ArchBatch.from_index_matrix(self.space.spec, z["index"])
                ppl = z["perplexity"].astype(np.float32)
                flops = z["flops"].astype(np.int64)
                params = z["params"].astype(np.int64)
        except (OSError, KeyError, ValueError):
            return None
        n = len(batch)
        if n == 0 or not (ppl.shape == flops.shape == params.shape == (n,)) or not np.isfinite(ppl).all():
            return None
        return batch, ppl, flops, params
