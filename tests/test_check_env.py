"""Every registered env passes Gymnasium's own checker, made through gymnasium.make."""

from __future__ import annotations

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import gymnasium_llmconfig

ALL_IDS = gymnasium_llmconfig.register_envs()


def test_every_registry_env_is_registered() -> None:
    assert len(ALL_IDS) == len(set(ALL_IDS))
    assert "LLMConfig-Pretrain-N429M-D50B-v0" in ALL_IDS
    for env_id in ALL_IDS:
        assert env_id in gymnasium.registry


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_check_env(env_id: str) -> None:
    env = gymnasium.make(env_id, budget=3)
    check_env(env.unwrapped, skip_render_check=True)
    prompt, _ = env.reset(seed=0)
    assert env.observation_space.contains(prompt)


def test_module_prefix_in_fresh_interpreter() -> None:
    import subprocess
    import sys

    code = (
        "import gymnasium; env = gymnasium.make('gymnasium_llmconfig:LLMConfig-Pretrain-N429M-D50B-v0'); "
        "print(type(env.unwrapped).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "LLMConfigEnv"
