"""Speed of the Arch task per scale: weight conversion, pool build, single query, batch throughput.

Run: ``python benchmarks/arch_surrogate.py [--data-dir DIR] [--queries N] [--batch N] [--scales s,m,l] [--quick]``.
``--quick`` times GPT-S only, 200 queries and a batch of 2,000 (seconds, for CI).
The data dir defaults to ``$LLMCONFIG_DATA_DIR`` or ``../shared/llmconfig-data``
beside the checkout. Everything is cached in a fresh temp folder, so the
"cold" numbers include the one-time torch conversion and pool build.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from gymnasium_llmconfig.problem import FidelityInfo, TaskInfo  # noqa: E402
from gymnasium_llmconfig.tasks.arch import ArchProblem, load_surrogate  # noqa: E402

TASK = TaskInfo("arch", "Architecture", "choose a GPT architecture", "ppl/max_ppl + flops/max_flops", "minimize")


def summarize(cfg: dict) -> str:
    """Width, depth, head/ratio composition and bias of one architecture, compactly."""
    def counts(values: list[int]) -> str:
        uniq, n = np.unique(values, return_counts=True)
        return "/".join(f"{u}x{c}" for u, c in zip(uniq, n, strict=True))

    return (f"d={cfg['embed_dim']} L={cfg['n_layer']} heads[{counts(cfg['heads'])}] "
            f"ratios[{counts(cfg['mlp_ratios'])}] bias={cfg['bias']}")


def bench_scale(scale: str, data_dir: Path, cache: Path, queries: int, batch_n: int) -> dict:
    pt = data_dir / f"perplexity_{scale}.pt"
    t0 = time.perf_counter()
    load_surrogate(scale, pt, cache)
    convert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_surrogate(scale, pt, cache)
    npz_s = time.perf_counter() - t0

    fid = FidelityInfo(f"GPT-{scale.upper()}", "low", {}, "")
    t0 = time.perf_counter()
    prob = ArchProblem(f"bench-{scale}", TASK, fid, scale, pt, cache)  # surrogate warm, pool cold
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ArchProblem(f"bench-{scale}", TASK, fid, scale, pt, cache)
    cached_s = time.perf_counter() - t0

    rng = np.random.default_rng(0)
    configs = [prob.space.sample(rng) for _ in range(queries)]
    for c in configs[:50]:
        prob.evaluate(c)  # warm-up
    lat = np.empty(queries)
    for i, c in enumerate(configs):
        t = time.perf_counter_ns()
        prob.evaluate(c)
        lat[i] = time.perf_counter_ns() - t
    lat_canon = np.empty(queries)
    for i, c in enumerate(configs):
        t = time.perf_counter_ns()
        prob.evaluate(prob.space.canonicalize(c))
        lat_canon[i] = time.perf_counter_ns() - t

    batch = prob.space.sample_batch(rng, batch_n)
    t0 = time.perf_counter()
    ppl = prob.surrogate.predict_batch(batch)
    batch.flops()
    batch_s = time.perf_counter() - t0
    assert np.isfinite(ppl).all()

    best = prob.evaluate(prob.best_config).details
    return {
        "scale": scale,
        "convert_ms": convert_s * 1e3,
        "npz_load_ms": npz_s * 1e3,
        "pool_build_ms": build_s * 1e3,
        "pool_cached_ms": cached_s * 1e3,
        "query_us_p50": float(np.median(lat)) / 1e3,
        "query_us_p99": float(np.percentile(lat, 99)) / 1e3,
        "canon_query_us_p50": float(np.median(lat_canon)) / 1e3,
        "batch_per_s": batch_n / batch_s,
        "pool_len": prob.pool_len,
        "best": prob.best_value,
        "worst": prob.worst_value,
        "max_ppl": prob.max_perplexity,
        "max_flops": prob.max_flops,
        "best_arch": summarize(prob.best_config),
        "best_ppl": best["perplexity"],
        "best_flops": best["flops"],
        "best_params": best["params"],
    }


def main() -> None:
    default = os.environ.get("LLMCONFIG_DATA_DIR") or str(REPO_ROOT.parent / "shared" / "llmconfig-data")
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, default=Path(default), help="data mirror root (holds hwgpt/)")
    ap.add_argument("--queries", type=int, default=5000, help="single queries timed per scale")
    ap.add_argument("--batch", type=int, default=100_000, help="architectures in the throughput batch")
    ap.add_argument("--scales", default="s,m,l", help="comma-separated scales (default s,m,l)")
    ap.add_argument("--quick", action="store_true", help="GPT-S, 200 queries, a batch of 2,000")
    args = ap.parse_args()
    if args.quick:
        args.scales, args.queries, args.batch = "s", 200, 2_000
    data_dir = args.data_dir / "hwgpt"
    scales = args.scales.split(",")
    missing = [str(data_dir / f"perplexity_{s}.pt") for s in scales if not (data_dir / f"perplexity_{s}.pt").is_file()]
    if missing:
        ap.error(f"missing surrogate weights {', '.join(missing)}: pass --data-dir or set LLMCONFIG_DATA_DIR to the "
                 "data mirror, or run `llmconfig data pull` for the hwgpt-perplexity sources")
    with tempfile.TemporaryDirectory(prefix="arch_bench_") as tmp:
        results = [bench_scale(s, data_dir, Path(tmp), args.queries, args.batch) for s in scales]

    cols = [
        ("scale", "{}"), ("convert_ms", "{:.0f}"), ("npz_load_ms", "{:.1f}"), ("pool_build_ms", "{:.0f}"),
        ("pool_cached_ms", "{:.1f}"), ("query_us_p50", "{:.1f}"), ("query_us_p99", "{:.1f}"),
        ("canon_query_us_p50", "{:.1f}"), ("batch_per_s", "{:,.0f}"),
    ]
    print(" | ".join(name for name, _ in cols))
    for r in results:
        print(" | ".join(fmt.format(r[name]) for name, fmt in cols))
    print()
    print("scale | pool | best target | worst target | max_ppl | max_flops | best arch | ppl | flops | params")
    for r in results:
        print(f"{r['scale']} | {r['pool_len']} | {r['best']:.4f} | {r['worst']:.4f} | {r['max_ppl']:.3f} | "
              f"{r['max_flops']:.3e} | {r['best_arch']} | {r['best_ppl']:.3f} | {r['best_flops']:.3e} | "
              f"{r['best_params']:,}")


if __name__ == "__main__":
    main()
