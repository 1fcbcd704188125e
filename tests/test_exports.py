"""The names users subclass or type against are importable from the packages' top level."""

from __future__ import annotations

import agents
import gymnasium_llmconfig
from agents.config_agent import ConfigAgent
from gymnasium_llmconfig.card import TaskCard
from gymnasium_llmconfig.config_space import ConfigSpace
from gymnasium_llmconfig.env import LLMConfigEnv
from gymnasium_llmconfig.errors import LLMConfigError


def test_top_level_exports() -> None:
    exported = {name: getattr(gymnasium_llmconfig, name) for name in gymnasium_llmconfig.__all__}
    assert exported["LLMConfigEnv"] is LLMConfigEnv and exported["TaskCard"] is TaskCard
    assert exported["ConfigSpace"] is ConfigSpace and exported["LLMConfigError"] is LLMConfigError
    assert "ConfigAgent" in agents.__all__ and agents.ConfigAgent is ConfigAgent
