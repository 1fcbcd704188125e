"""gymnasium-llmconfig: Gymnasium envs for configuring expensive LLM experiments from real runs.

Importing the package registers every env of the registry with Gymnasium::

    import gymnasium, gymnasium_llmconfig
    env = gymnasium.make("LLMConfig-Pretrain-N429M-D50B-v0", budget=5)
"""

from __future__ import annotations

import gymnasium

from gymnasium_llmconfig.api import LMConfigGym
from gymnasium_llmconfig.card import TaskCard
from gymnasium_llmconfig.config_space import ConfigSpace
from gymnasium_llmconfig.env import LLMConfigEnv
from gymnasium_llmconfig.errors import LLMConfigError
from gymnasium_llmconfig.registry import load_registry, unknown_env_message

__version__ = "0.1.0"

ENTRY_POINT = "gymnasium_llmconfig.env:LLMConfigEnv"
#: Every made env gets BudgetTruncation, which reads T from the env (``make(id, budget=T)``).
BUDGET_WRAPPER = gymnasium.envs.registration.WrapperSpec(
    "BudgetTruncation", "gymnasium_llmconfig.budget:BudgetTruncation", {"budget": None}
)


def register_envs() -> list[str]:
    """Register every registry env with Gymnasium (idempotent); returns the ids."""
    ids = []
    for _task, fidelity in load_registry():
        if fidelity.env_id not in gymnasium.registry:
            gymnasium.register(
                id=fidelity.env_id,
                entry_point=ENTRY_POINT,
                kwargs={"env_id": fidelity.env_id},
                disable_env_checker=True,
                additional_wrappers=(BUDGET_WRAPPER,),
            )
        ids.append(fidelity.env_id)
    return ids


def make(env_id: str, **kwargs: object) -> gymnasium.Env:
    """``gymnasium.make`` whose error for an unknown id also lists the closest LLMConfig ids."""
    try:
        return gymnasium.make(env_id, **kwargs)
    except gymnasium.error.UnregisteredEnv as exc:
        raise gymnasium.error.UnregisteredEnv(f"{exc} {unknown_env_message(env_id, gymnasium.registry)}") from None


register_envs()

#: What users subclass or type against: the env, the card agents read, the space interface, the error base.
__all__ = [
    "ConfigSpace",
    "LLMConfigEnv",
    "LLMConfigError",
    "LMConfigGym",
    "TaskCard",
    "__version__",
    "make",
    "register_envs",
]
