"""Env speed: text-path steps per second and make() latency (cold and warm), per task.

Run: ``LLMCONFIG_DATA_DIR=../shared/llmconfig-data python benchmarks/env_throughput.py``.
Cold make is measured in a fresh interpreter (import + first make, parquet cache warm);
warm make is a second make of another env of the same task in the same process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import gymnasium
import numpy as np
from rich.console import Console
from rich.table import Table

import gymnasium_llmconfig
from gymnasium_llmconfig.registry import load_registry

STEPS = 20_000


def cold_make(env_id: str) -> float:
    code = (
        "import time; t=time.perf_counter(); import gymnasium, gymnasium_llmconfig; "
        f"gymnasium.make({env_id!r}); print(time.perf_counter()-t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def steps_per_second(env_id: str) -> float:
    """Valid, distinct proposals only: each episode walks a shuffled pass over the space."""
    space = gymnasium.make(env_id).unwrapped.problem.space
    configs = space.enumerate()
    env = gymnasium.make(env_id, budget=len(configs)).unwrapped
    rng = np.random.default_rng(0)
    actions = []
    while len(actions) < STEPS:
        actions += [json.dumps(configs[i]) for i in rng.permutation(len(configs))]
    actions = actions[:STEPS]
    env.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    return len(actions) / elapsed


def main() -> None:
    registry = load_registry()
    table = Table(title=f"Env throughput (gymnasium_llmconfig {gymnasium_llmconfig.__version__})")
    for column in ("task", "env", "text steps/s", "cold make (s)", "warm make (ms)"):
        table.add_column(column)
    for task in registry.tasks.values():
        first, second = task.fidelities[0].env_id, task.fidelities[-1].env_id
        cold = cold_make(first)
        gymnasium.make(first)
        start = time.perf_counter()
        gymnasium.make(second)
        warm_ms = (time.perf_counter() - start) * 1000
        rate = steps_per_second(first)
        table.add_row(task.name, first, f"{rate:,.0f}", f"{cold:.3f}", f"{warm_ms:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
