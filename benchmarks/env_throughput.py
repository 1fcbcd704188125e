"""Env speed: text-path steps per second and make() latency (cold and warm), per task.

Run: ``LLMCONFIG_DATA_DIR=../shared/llmconfig-data python benchmarks/env_throughput.py [--quick] [--steps N]``.
Steps are valid, distinct proposals: shuffled passes over a finite space, sampled
architectures for Arch (an infinite space). Cold make is measured in a fresh
interpreter (import + first make, parquet cache warm); warm make is a second make
of another env of the same task in the same process. ``--quick`` times 500 steps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import gymnasium
import numpy as np
from rich.console import Console
from rich.table import Table

import gymnasium_llmconfig
from gymnasium_llmconfig.data import DataError
from gymnasium_llmconfig.registry import load_registry


def cold_make(env_id: str) -> float:
    code = (
        "import time; t=time.perf_counter(); import gymnasium, gymnasium_llmconfig; "
        f"gymnasium.make({env_id!r}); print(time.perf_counter()-t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        last = out.stderr.strip().splitlines()[-1:] or [f"exit status {out.returncode}"]
        raise SystemExit(f"env_throughput.py: a fresh interpreter could not make {env_id}: {last[0]}")
    return float(out.stdout.strip())


def proposals(space: Any, n: int, rng: np.random.Generator) -> tuple[list[str], int]:
    """``n`` valid action texts and the budget that lets them run as distinct proposals.

    A finite space is walked in shuffled passes (one episode per pass); an infinite one
    (Arch) is sampled, in one episode of ``n`` trials.
    """
    if not space.is_finite:
        return [json.dumps(space.sample(rng)) for _ in range(n)], n
    configs = space.enumerate()
    actions: list[str] = []
    while len(actions) < n:
        actions += [json.dumps(configs[i]) for i in rng.permutation(len(configs))]
    return actions[:n], len(configs)


def steps_per_second(env_id: str, steps: int) -> float:
    space = gymnasium.make(env_id).unwrapped.problem.space
    actions, budget = proposals(space, steps, np.random.default_rng(0))
    env = gymnasium.make(env_id, budget=budget).unwrapped
    env.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    return len(actions) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="timed steps per task (default 20,000)")
    parser.add_argument("--quick", action="store_true", help="500 steps per task (seconds, for CI)")
    args = parser.parse_args()
    steps = 500 if args.quick else args.steps
    registry = load_registry()
    table = Table(title=f"Env throughput (gymnasium_llmconfig {gymnasium_llmconfig.__version__})")
    for column in ("task", "env", "text steps/s", "cold make (s)", "warm make (ms)"):
        table.add_column(column)
    for task in registry.tasks.values():
        first, second = task.fidelities[0].env_id, task.fidelities[-1].env_id
        try:
            gymnasium.make(first)
        except DataError as exc:
            raise SystemExit(f"env_throughput.py: cannot make {first}: {exc}") from None
        cold = cold_make(first)
        start = time.perf_counter()
        gymnasium.make(second)
        warm_ms = (time.perf_counter() - start) * 1000
        rate = steps_per_second(first, steps)
        table.add_row(task.name, first, f"{rate:,.0f}", f"{cold:.3f}", f"{warm_ms:.1f}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
