"""GRPO's training dynamics (paper 000, Fig. 10): ``OUT/metrics.jsonl`` and ``OUT/metrics.png``.

One JSON line per training step (critic score = the rollouts' episode return, mean and
min; response length; execution and unique-config rates; loss, KL, step time), and on
evaluation steps the test envs' regret mean@3 and rates. On resume, lines past the
checkpoint's step are dropped (those steps are played again).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.storage import atomic_write, jsonable, read_jsonl

#: (key in metrics.jsonl, panel title) of the plot, in Fig. 10's order.
PANELS = (
    ("test_regret_mean3", "regret mean@3 (test)"),
    ("critic_score_mean", "critic score mean"),
    ("critic_score_min", "critic score min"),
    ("response_length_mean", "response length (tokens)"),
    ("execution_rate", "execution rate"),
    ("unique_config_rate", "unique-config rate"),
)


def rollout_stats(rollouts: Sequence[Any]) -> dict[str, float]:
    """The Fig. 10 statistics of a batch of rollouts (:class:`~gymnasium_llmconfig.lab.rollout.Rollout`)."""
    returns = [r.episode_return for r in rollouts]
    lengths = [n for r in rollouts for n in r.reply_tokens]
    n = max(1, len(rollouts))
    return {
        "critic_score_mean": sum(returns) / n,
        "critic_score_min": min(returns, default=0.0),
        "response_length_mean": sum(lengths) / max(1, len(lengths)),
        "execution_rate": sum(r.execution_rate for r in rollouts) / n,
        "unique_config_rate": sum(r.unique_config_rate for r in rollouts) / n,
        "regret_mean": sum(r.normalized_regret for r in rollouts) / n,
        "context_overflows": sum(1 for r in rollouts if r.context_overflow),
    }


def keep_until(path: Path, step: int) -> list[dict[str, Any]]:
    """Drop the lines of steps after ``step`` (played again on resume); returns what is kept."""
    kept = [row for row in read_jsonl(path) if int(row.get("step", 0)) <= step]
    if path.exists():
        atomic_write(path, lambda f: f.writelines(json.dumps(row) + "\n" for row in kept))
    return kept


def append(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(jsonable(row), allow_nan=False) + "\n")


def plot(rows: Sequence[dict[str, Any]], target: Path) -> None:
    """``metrics.png``: one panel per Fig. 10 curve against the training step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6), constrained_layout=True)
    for ax, (key, title) in zip(axes.flat, PANELS, strict=True):
        points = [(row["step"], row[key]) for row in rows if row.get(key) is not None]
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, marker="o", markersize=3)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    atomic_write(target, lambda f: fig.savefig(f, format="png", dpi=100), binary=True)
    plt.close(fig)
