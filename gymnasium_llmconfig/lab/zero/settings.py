"""The knobs of LLMZero's search loop (paper 003, Appendix B.6 defaults; Algorithm 1, Appendix D).

Kept apart from :mod:`.tree` and :mod:`.search` because both read them and ``tree.json`` stores them:
a resumed search must run under exactly the settings it was started with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from gymnasium_llmconfig.errors import InvalidArgument


@dataclass(frozen=True)
class SearchSettings:
    """Algorithm 1's budget and the tree's constants.

    ``iterations`` counts every phase the search runs, the root included (the paper's per-node
    tables, App. E.5, number 16 nodes for a 16-iteration budget). ``c``, ``temperature`` (T),
    ``w_f``, ``w_e``, ``o_f``, ``max_evolve``, ``max_debug``, ``max_debug_depth`` and ``rho_min``
    are App. B.6's values (eqs. 5-8, §3.2-3.3). ``default_steps`` is the length of the root phase
    and the proposer's default phase length. The three switches are §4.5's ablations: without
    multi-stage every phase starts from scratch, without early stopping no stopper runs, without
    injection no forced fresh start happens.
    """

    iterations: int = 16
    seed: int = 0
    c: float = 1.414
    temperature: float = 0.3
    w_f: float = 0.5
    w_e: float = 0.3
    o_f: int = 2
    max_evolve: int = 2
    max_debug: int = 3
    max_debug_depth: int = 5
    rho_min: float = 0.2
    multi_stage: bool = True
    early_stop: bool = True
    scratch_injection: bool = True
    default_steps: int = 8

    def __post_init__(self) -> None:
        checks = {
            "iterations": self.iterations >= 1, "default_steps": self.default_steps >= 1,
            "c": self.c >= 0, "temperature": self.temperature > 0, "w_f": self.w_f >= 0,
            "w_e": self.w_e >= 0, "o_f": self.o_f >= 0, "max_evolve": self.max_evolve >= 1,
            "max_debug": self.max_debug >= 0, "max_debug_depth": self.max_debug_depth >= 0,
            "rho_min": self.rho_min >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise InvalidArgument(f"search settings out of range: {shown} (iterations, default_steps and "
                                  "max_evolve need >= 1, temperature > 0, the rest >= 0)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SearchSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})
