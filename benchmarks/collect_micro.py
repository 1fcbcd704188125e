"""Literature check on the shipped Micro table (tiny GPT pretraining sweep).

Prints, from ``gymnasium_llmconfig/tables/micro/runs.csv`` (or ``--table``):

1. the best (lr, batch_size) and its loss in every fidelity cell (model x tokens);
2. the optimal peak LR per cell and batch size, on the grid and refined by a
   parabola through the grid minimum and its two neighbours in log2(lr);
3. the fitted exponents of lr_opt ~ N^a and lr_opt ~ D^b, to compare with
   Step Law (a = -0.713, b = +0.307): larger models want a lower LR, more
   tokens a (slightly) higher one.

Usage: python benchmarks/collect_micro.py [--table PATH] [--quick]
(``--quick`` is accepted for CI's uniform call; the check reads one small CSV and takes a second either way.)
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd

TABLE = Path(__file__).resolve().parents[1] / "gymnasium_llmconfig" / "tables" / "micro" / "runs.csv"


def refined_optimum(group: pd.DataFrame) -> tuple[float, float, bool]:
    """(grid argmin lr, parabola-refined lr, at_grid_edge) for one (cell, batch size) LR scan."""
    g = group.sort_values("lr")
    x, y = np.log2(g["lr"].to_numpy()), g["final_loss"].to_numpy()
    i = int(np.argmin(y))
    if i == 0 or i == len(y) - 1:
        return float(2 ** x[i]), float(2 ** x[i]), True
    curvature = y[i - 1] - 2 * y[i] + y[i + 1]
    shift = 0.5 * (y[i - 1] - y[i + 1]) / curvature if curvature > 0 else 0.0
    step = (x[i + 1] - x[i - 1]) / 2
    return float(2 ** x[i]), float(2 ** (x[i] + shift * step)), False


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(ys) on log(xs)."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--quick", action="store_true", help="accepted for CI; the full check is already quick")
    df = pd.read_csv(parser.parse_args().table)
    df = df[df["status"] != "failed"]
    df["compute"] = 6.0 * df["n_params"] * df["tokens"]
    cells = df.groupby(["model", "tokens"])["compute"].first().sort_values().index.tolist()

    print(
        f"{len(df)} runs; statuses: {df['status'].value_counts().to_dict()}; "
        f"wall time {df['wall_time_s'].sum() / 60:.1f} min on {sorted(df['device'].unique())}"
    )
    print("\n== best config per cell (ordered by compute 6ND) ==")
    print(f"{'cell':<12}{'N':>9}{'D':>9}{'best lr':>11}{'bs':>5}{'loss':>9}{'val':>9}  loss at worst lr")
    for model, tokens in cells:
        c = df[(df["model"] == model) & (df["tokens"] == tokens)]
        best = c.loc[c["final_loss"].idxmin()]
        print(
            f"{model + '-' + str(tokens):<12}{best['n_params']:>9}{tokens:>9}{best['lr']:>11.2e}"
            f"{best['batch_size']:>5}{best['final_loss']:>9.4f}{best['val_loss']:>9.4f}  {c['final_loss'].max():.4f}"
        )

    print("\n== optimal peak LR per cell and batch size: grid argmin (refined), loss ==")
    opt: dict[tuple[str, int, int], float] = {}
    for (model, tokens), c in ((k, df[(df["model"] == k[0]) & (df["tokens"] == k[1])]) for k in cells):
        parts = []
        for bs, g in c.groupby("batch_size"):
            grid, refined, edge = refined_optimum(g)
            opt[(model, tokens, bs)] = refined
            parts.append(f"bs={bs}: {grid:.1e} ({refined:.1e}{', edge' if edge else ''}) {g['final_loss'].min():.3f}")
        print(f"{model}-{tokens}: " + " | ".join(parts))

    models = sorted(df["model"].unique(), key=lambda m: df.loc[df["model"] == m, "n_params"].iloc[0])
    n_of = {m: int(df.loc[df["model"] == m, "n_params"].iloc[0]) for m in models}
    tokens_all = sorted(df["tokens"].unique())
    batch_sizes = sorted(df["batch_size"].unique())

    print("\n== does the optimal LR fall with model size? (refined lr_opt, S -> L) ==")
    n_slopes = []
    for tokens in tokens_all:
        for bs in batch_sizes:
            lrs = [opt[(m, tokens, bs)] for m in models]
            n_slopes.append(slope([n_of[m] for m in models], lrs))
            trend = " > ".join(f"{lr:.1e}" for lr in lrs)
            print(f"D={tokens} bs={bs}: {trend}   exponent a={n_slopes[-1]:+.2f}")
    print(
        f"mean exponent a (lr_opt ~ N^a) = {np.mean(n_slopes):+.2f} (Step Law: -0.713); "
        f"falls with N in {sum(s < 0 for s in n_slopes)}/{len(n_slopes)} (D, bs) slices"
    )

    print("\n== does the optimal LR move with tokens? ==")
    d_slopes = [slope(tokens_all, [opt[(m, d, bs)] for d in tokens_all]) for m in models for bs in batch_sizes]
    print(
        f"mean exponent b (lr_opt ~ D^b) = {np.mean(d_slopes):+.2f} (Step Law: +0.307); "
        f"rises with D in {sum(s > 0 for s in d_slopes)}/{len(d_slopes)} (model, bs) slices"
    )

    print("\n== best loss falls with N and D? ==")
    for tokens in tokens_all:
        losses = [df[(df["model"] == m) & (df["tokens"] == tokens)]["final_loss"].min() for m in models]
        print(
            f"D={tokens}: "
            + " > ".join(f"{m} {v:.4f}" for m, v in zip(models, losses, strict=True))
            + ("   (monotone)" if all(a > b for a, b in itertools.pairwise(losses)) else "   (NOT monotone)")
        )
    if not math.isfinite(df["final_loss"].max()):
        print("warning: non-finite final_loss in the table")


if __name__ == "__main__":
    main()
