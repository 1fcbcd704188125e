"""DiscreteConfigActions: Discrete(n) actions for non-text agents, checked and trained with stable-baselines3."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import gymnasium_llmconfig  # noqa: F401
from wrappers import DiscreteConfigActions

ENV = "LLMConfig-Pretrain-N429M-D50B-v0"


def test_actions_are_configs_and_observations_are_history() -> None:
    env = DiscreteConfigActions(gymnasium.make(ENV, budget=3))
    problem = env.unwrapped.problem
    n = len(problem.space.enumerate())
    assert env.action_space.n == n and env.observation_space.shape == (2 * n + 1,)
    obs, _ = env.reset(seed=0)
    assert obs.sum() == 1.0 and obs[-1] == 1.0
    k = problem.space.index(problem.best_config)
    obs, reward, _, _, info = env.step(np.int64(k))
    assert info["config"] == problem.best_config and reward == 0.0
    assert obs[k] == 1.0 and obs[n + k] == 1.0 and obs[-1] == pytest.approx(2 / 3)
    assert env.observation_space.contains(obs)
    _, reward, terminated, _, info = env.step(k)  # same action twice: the env's repeat rule applies
    assert terminated and info["repeat"] and reward == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="integer in"):
        DiscreteConfigActions(gymnasium.make(ENV)).step(n)


def test_candidates_restrict_the_actions() -> None:
    space = gymnasium.make(ENV).unwrapped.problem.space
    picked = space.enumerate()[:4]
    env = DiscreteConfigActions(gymnasium.make(ENV), candidates=picked)
    assert env.action_space.n == 4
    env.reset(seed=0)
    assert env.step(2)[4]["config"] == picked[2]
    with pytest.raises(ValueError, match="candidate 0 is not in the space"):
        DiscreteConfigActions(gymnasium.make(ENV), candidates=[{"lr": 1.0, "bs": 1}])


def test_stable_baselines3_checks_and_trains() -> None:
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env

    env = DiscreteConfigActions(gymnasium.make(ENV, budget=5))
    check_env(env, warn=True)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=320)
    action, _ = model.predict(env.reset(seed=1)[0], deterministic=True)
    assert env.action_space.contains(int(action))
