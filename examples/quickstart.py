"""Quickstart: play LLMConfig envs with random search through the plain Gymnasium API.

Usage: ``python examples/quickstart.py [ENV_ID ...]``. Prints one episode's
transcript, then random search's mean normalized regret at budgets 1..5. With
no ids it plays the Micro envs, whose data ships in the package (no download).
"""

from __future__ import annotations

import sys

import gymnasium
import numpy as np

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents import run_episode
from agents.random_search import RandomSearch
from gymnasium_llmconfig.registry import load_registry


def random_episode(env: gymnasium.Env, seed: int) -> float:
    """One episode of random search (distinct uniform proposals); returns the final normalized regret."""
    return run_episode(env, RandomSearch(), seed=seed)[-1]["normalized_regret"]


def main(env_ids: list[str]) -> None:
    first = gymnasium.make(env_ids[0], budget=2, render_mode="ansi")
    random_episode(first, seed=0)
    print(first.render()[-1500:], "\n")
    print(f"{'env':42s} " + " ".join(f"T={t:<5d}" for t in range(1, 6)))
    for env_id in env_ids:
        row = []
        for budget in range(1, 6):
            env = gymnasium.make(env_id, budget=budget)
            row.append(np.mean([random_episode(env, seed) for seed in range(20)]))
        print(f"{env_id:42s} " + " ".join(f"{r:<7.3f}" for r in row))
    print("\nMean normalized regret of random search over 20 seeds (0 = found the best run, 1 = the worst).")


if __name__ == "__main__":
    main(sys.argv[1:] or load_registry().env_ids(task="Micro"))
