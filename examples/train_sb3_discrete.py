"""Train a stable-baselines3 PPO policy on ``DiscreteConfigActions`` and compare it with random search.

Usage: ``python examples/train_sb3_discrete.py [--quick] [--timesteps N]`` (needs ``pip install -e ".[rl]"``).

The low-to-high protocol with a non-text agent: every Micro env shares one grid
of 40 (lr, batch size) runs, so action ``k`` means the same config everywhere.
PPO trains on the low and medium Micro envs (one vectorized copy each, budget 5)
and is evaluated, deterministically, on the high ones; the same envs are played
by random search over 20 seeds. The Micro data ships in the package (no
download). ``--quick`` trains 256 steps: it shows the loop runs, not that PPO learns.
"""

from __future__ import annotations

import argparse

import gymnasium
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

import gymnasium_llmconfig
from agents import run_episode
from agents.random_search import RandomSearch
from gymnasium_llmconfig.curation import resolve_suite
from wrappers import DiscreteConfigActions

BUDGET = 5


def discrete_env(env_id: str, grid: list[dict]) -> gymnasium.Env:
    """A Micro env whose action ``k`` runs ``grid[k]`` (so actions mean the same on every env)."""
    return DiscreteConfigActions(gymnasium_llmconfig.make(env_id, budget=BUDGET), candidates=grid)


def policy_regret(model: PPO, env_id: str, grid: list[dict]) -> float:
    """Final normalized regret of one deterministic episode of the policy."""
    env = discrete_env(env_id, grid)
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    return info["normalized_regret"]


def random_regret(env_id: str, seeds: int) -> float:
    env = gymnasium_llmconfig.make(env_id, budget=BUDGET)
    return float(np.mean([run_episode(env, RandomSearch(), seed=s)[-1]["normalized_regret"] for s in range(seeds)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, default=30_000, help="PPO training steps (default 30,000)")
    parser.add_argument("--quick", action="store_true", help="256 training steps (seconds, for CI)")
    args = parser.parse_args()
    timesteps = 256 if args.quick else args.timesteps
    torch.set_num_threads(1)  # a tiny MLP: more threads only add overhead
    suite = resolve_suite("smoke")  # Micro and GRPO; the shared grid is Micro's, so the Micro envs only
    train, test = ([e for e in envs if e.startswith("LLMConfig-Micro-")] for envs in (suite.train, suite.test))
    grid = gymnasium_llmconfig.make(train[0]).unwrapped.card.space.enumerate()
    envs = DummyVecEnv([lambda env_id=env_id: discrete_env(env_id, grid) for env_id in train])
    model = PPO("MlpPolicy", envs, n_steps=64, batch_size=64, learning_rate=3e-3, gamma=1.0,
                ent_coef=0.01, seed=0, verbose=0)
    model.learn(total_timesteps=timesteps)
    print(f"PPO trained {timesteps:,} steps on {len(train)} Micro training envs "
          f"({len(grid)} actions, budget {BUDGET})")
    print(f"{'test env':36s} {'PPO':>7s} {'random (20 seeds)':>18s}")
    for env_id in test:
        print(f"{env_id:36s} {policy_regret(model, env_id, grid):7.3f} {random_regret(env_id, 20):18.3f}")
    print("Final normalized regret (0 = found the env's best run, 1 = only its worst).")


if __name__ == "__main__":
    main()
