"""Random search: uniform over the valid space, never repeating a config."""

from __future__ import annotations

from agents.config_agent import ConfigAgent
from gymnasium_llmconfig.config_space import Config


class RandomSearch(ConfigAgent):
    """The baseline every other agent must beat.

    With the same seed, an episode with a larger budget starts with the same
    proposals, so its best-so-far is never worse than a smaller budget's.
    """

    name = "random"

    def propose(self) -> Config:
        return self.random_untried()
