"""Top-K warm start: replay the best configs of the lower fidelities, then search at random.

The card's demonstrations are the top configs of the envs one rung below
(what the paper's prompts show an LLM). They are replayed best rank first,
round-robin over the demo envs with the fidelity closest to the target first.
A demo config the target space does not contain (the grid shifted) is mapped
to its nearest valid config by the space's ``nearest(config, metric="numeric")``
(nearest in the encoding for tables, the repair of near misses for
architectures); once the demos are used up, or when there are none, the
agent falls back to random search.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.config_agent import ConfigAgent
from agents.features import fidelity_distance
from gymnasium_llmconfig.card import Demonstration
from gymnasium_llmconfig.config_space import Config


class TopKWarmStart(ConfigAgent):
    name = "topk"

    def start_episode(self) -> None:
        self._queue = [config for config in self._demo_order() if config is not None]

    def propose(self) -> Config:
        while self._queue:
            config = self._queue.pop(0)
            if not self.tried(config):
                return config
        return self.random_untried()

    def _demo_order(self) -> list[Config | None]:
        demos = sorted(self.card.demonstrations, key=self._fidelity_distance)
        depth = max((len(d.configs) for d in demos), default=0)
        return [self._valid(d.configs[rank][0]) for rank in range(depth) for d in demos if rank < len(d.configs)]

    def _fidelity_distance(self, demo: Demonstration) -> float:
        return fidelity_distance(self.card.fidelity.metadata, demo.fidelity.metadata)

    def _valid(self, config: Mapping[str, Any]) -> Config | None:
        """``config`` itself when the target space has it, else its nearest valid config (``None``: no repair)."""
        return self.space.nearest(config, metric="numeric")
