"""The Optimizer task's landscape: final loss against peak learning rate per model size, AdamW and Muon.

Each curve is one cell's learning-rate slice: the cell's Baseline run and the
runs that change only its learning rate (Wen et al. 2025, the 1-D sweeps of
"Fantastic Pretraining Optimizers"). The best learning rate falls as the model
grows, which is why the config space shifts with fidelity. Diverged runs
(loss above 6 or NaN) are drawn at the task's cap of 6 with an x marker.

Run: ``LLMCONFIG_DATA_DIR=../shared/llmconfig-data python benchmarks/optimizer_landscape.py [--quick] [--out PNG]``.
``--quick`` draws only the 1x-Chinchilla cells; the default adds the 2x-8x
cells of each size as fainter curves.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from gymnasium_llmconfig.data import read_table  # noqa: E402
from gymnasium_llmconfig.registry import load_registry  # noqa: E402

OPTIMIZERS = {"adamw": "AdamW", "muon": "Muon"}
SIZES = ("130m", "300m", "520m", "1.2b")
CAP = 6.0


def lr_slices(optimizers: list[str], multiples: list[int]) -> pd.DataFrame:
    """Rows (optimizer, size, multiple, learning_rate, loss) of every Baseline and learning-rate ablation."""
    sources = load_registry().task("Optimizer").sources.values()
    frames = []
    for source in sources:
        fields = dict(source.fields)
        if fields["optimizer"] in optimizers and fields["multiple"] in multiples:
            frame = read_table(source)
            frames.append(frame[frame["ablation"].isin(["Baseline", "learning_rate"])])
    rows = pd.concat(frames, ignore_index=True)
    return rows.rename(columns={"config/learning_rate": "learning_rate"})[
        ["optimizer", "size", "multiple", "learning_rate", "loss"]]


def plot(rows: pd.DataFrame, out: Path) -> None:
    fig, axes = plt.subplots(1, len(OPTIMIZERS), figsize=(11, 4.2), sharey=True)
    colors = dict(zip(SIZES, plt.cm.viridis([0.0, 0.33, 0.66, 0.9]), strict=True))
    for ax, (key, label) in zip(axes, OPTIMIZERS.items(), strict=True):
        mine = rows[rows["optimizer"] == key]
        cells = sorted(mine.groupby(["size", "multiple"]), key=lambda g: (-g[0][1], SIZES.index(g[0][0])))
        for (size, multiple), cell in cells:
            cell = cell.sort_values("learning_rate")
            diverged = cell["loss"].isna() | (cell["loss"] > CAP)
            loss = cell["loss"].where(~diverged, CAP)
            first = multiple == 1
            ax.plot(cell["learning_rate"], loss, "-o", color=colors[size], alpha=1.0 if first else 0.3,
                    markersize=4 if first else 2, label=f"{size.upper()}" if first else None)
            ax.plot(cell["learning_rate"][diverged], loss[diverged], "x", color=colors[size], markersize=8)
            best = cell.loc[cell["loss"].idxmin()] if not cell["loss"].isna().all() else None
            if first and best is not None and math.isfinite(best["loss"]):
                ax.plot(best["learning_rate"], best["loss"], "*", color=colors[size], markersize=13,
                        markeredgecolor="black")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ticks = sorted(mine["learning_rate"].unique())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks], rotation=45)
        ax.set_xlabel("peak learning rate")
        ax.set_title(f"{label}: loss vs learning rate (star: best at 1x Chinchilla)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(title="model size (1x; faint: 2-8x)", fontsize=8, loc="center left")
    axes[0].set_ylabel("final C4-en loss (diverged: 6)")
    axes[0].set_ylim(2.6, CAP + 0.2)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only the 1x-Chinchilla cells")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "optimizer_landscape.png")
    args = parser.parse_args()
    rows = lr_slices(list(OPTIMIZERS), [1] if args.quick else [1, 2, 4, 8])
    plot(rows, args.out)
    best = rows.loc[rows.groupby(["optimizer", "size", "multiple"])["loss"].idxmin().dropna()]
    print(best.sort_values(["optimizer", "multiple", "size"]).to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
