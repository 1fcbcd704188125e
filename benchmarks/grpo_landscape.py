"""The landscape of the shipped GRPO table: where the optimum sits per fidelity, seed noise vs config spread.

Prints, from ``gymnasium_llmconfig/tables/grpo/`` (or ``--dir``):

1. per fidelity: the SFT start's accuracy, the best and worst config (mean over seeds), how many of the
   18 configs beat the start, the spread over configs (std of the means) against the seed noise
   (root mean square over configs of the per-config standard deviation over seeds);
2. per fidelity, the mean accuracy along each axis (LR, batch size, KL coefficient), marginalized over
   the other two: which axis matters where, and whether the best LR moves with the fidelity;
3. run times: per-run wall time by fidelity and the sum over the whole collection.

Usage: python benchmarks/grpo_landscape.py [--dir PATH] [--quick]
(``--quick`` is accepted for CI's uniform call; the script reads two small CSVs either way.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

DIR = Path(__file__).resolve().parents[1] / "gymnasium_llmconfig" / "tables" / "grpo"
AXES = ("lr", "batch_size", "kl_coef")


def landscape(table: pd.DataFrame) -> pd.DataFrame:
    """One row per fidelity: start, best/worst config, configs beating the start, config spread, seed noise."""
    out = []
    for fid, g in table.groupby("fidelity", sort=False):
        best, worst = g.loc[g["test_accuracy"].idxmax()], g.loc[g["test_accuracy"].idxmin()]
        seeds = np.array([json.loads(s) for s in g["test_accuracy_seeds"]])
        out.append({
            "fidelity": fid,
            "start": g["initial_accuracy"].iloc[0],
            "best": best["test_accuracy"],
            "best config": f"lr={best['lr']:g} bs={best['batch_size']} kl={best['kl_coef']:g}",
            "worst": worst["test_accuracy"],
            "worst config": f"lr={worst['lr']:g} bs={worst['batch_size']} kl={worst['kl_coef']:g}",
            "beat start": f"{int((g['test_accuracy'] > g['initial_accuracy']).sum())}/{len(g)}",
            "config spread": round(float(g["test_accuracy"].std(ddof=0)), 4),
            "seed noise": round(float(np.sqrt(np.mean(seeds.std(axis=1) ** 2))), 4),
            "diverged": int(g["diverged_seeds"].sum()),
        })
    return pd.DataFrame(out)


def marginals(table: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Mean accuracy per value of ``axis`` (over the other axes' configs), one row per fidelity."""
    m = table.pivot_table(index="fidelity", columns=axis, values="test_accuracy", aggfunc="mean", sort=False).round(4)
    m["argmax"] = [f"{v:g}" for v in m.idxmax(axis=1)]
    return m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DIR)
    parser.add_argument("--quick", action="store_true", help="accepted for CI; no effect")
    args = parser.parse_args()
    table = pd.read_csv(args.dir / "table.csv")
    runs = pd.read_csv(args.dir / "runs.csv")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("best config per fidelity (mean test accuracy over seeds)")
        print(landscape(table).to_string(index=False))
        for axis in AXES:
            print(f"\nmean accuracy by {axis} (marginalized over the other axes)")
            print(marginals(table, axis).to_string())
        wall = runs.groupby("fidelity", sort=False)["wall_time_s"].agg(["mean", "max", "sum"]).round(1)
        print("\nper-run wall time [s] by fidelity")
        print(wall.to_string())
    print(f"\n{len(runs)} runs, {runs['wall_time_s'].sum() / 60:.1f} min of run time in all "
          f"(statuses: {runs['status'].value_counts().to_dict()})")


if __name__ == "__main__":
    main()
