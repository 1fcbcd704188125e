"""The flags an installed OpenRLHF entry point accepts, read from its source with ``ast``.

OpenRLHF's CLIs build their ``argparse`` parser under ``if __name__ == "__main__"``, so the parser
cannot be imported; and importing the modules would pull in vLLM and DeepSpeed. Reading the
``parser.add_argument(...)`` calls (expanding f-string names inside ``for prefix in (...)`` loops,
as 0.11 writes ``--actor.adam.lr`` and ``--critic.adam.lr``) gives the exact flag set of the
installed release, so every flag we emit, and every ``--set`` override, is checked against it.
"""

from __future__ import annotations

import ast
import difflib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from gymnasium_llmconfig.errors import BackendUnavailable, InvalidArgument
from gymnasium_llmconfig.lab.train.openrlhf import OPENRLHF_VERSION

#: The OpenRLHF entry points this project launches.
GRPO_ENTRY = "openrlhf.cli.train_ppo_ray"
SFT_ENTRY = "openrlhf.cli.train_sft"


@dataclass(frozen=True)
class Flag:
    """One accepted flag: a switch (``store_true``/``store_false``) or one that takes (possibly several) values."""

    name: str
    switch: bool
    several: bool


def openrlhf_version() -> str:
    """The installed OpenRLHF version; one clear message when it is missing."""
    try:
        return importlib.metadata.version("openrlhf")
    except importlib.metadata.PackageNotFoundError:
        raise BackendUnavailable(
            "OpenRLHF is not installed; the openrlhf backend checks every flag against its CLI. Fix: on a GPU "
            f"machine `pip install 'gymnasium-llmconfig[cluster]'`; to prepare and submit from a CPU machine "
            f"`pip install --no-deps openrlhf=={OPENRLHF_VERSION}`."
        ) from None


def entry_source(module: str) -> Path:
    """The installed source file of an OpenRLHF entry point module (not imported)."""
    openrlhf_version()
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise BackendUnavailable(f"the installed OpenRLHF has no module {module}; this project launches OpenRLHF "
                                 f"{OPENRLHF_VERSION}. Fix: pip install --no-deps openrlhf=={OPENRLHF_VERSION}")
    return Path(spec.origin)


class _Collector(ast.NodeVisitor):
    def __init__(self) -> None:
        self.bindings: dict[str, str] = {}
        self.flags: dict[str, Flag] = {}

    def visit_For(self, node: ast.For) -> None:
        values = node.iter.elts if isinstance(node.iter, ast.Tuple | ast.List) else None
        if not (isinstance(node.target, ast.Name) and values and all(isinstance(v, ast.Constant) for v in values)):
            self.generic_visit(node)
            return
        for value in values:
            self.bindings[node.target.id] = str(value.value)
            for statement in node.body:
                self.visit(statement)
        del self.bindings[node.target.id]

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "add_argument" and node.args:
            name = self._text(node.args[0])
            if name is not None and name.startswith("--"):
                keywords = {k.arg: k.value for k in node.keywords if k.arg}
                action = keywords.get("action")
                switch = isinstance(action, ast.Constant) and action.value in ("store_true", "store_false")
                self.flags[name] = Flag(name, switch, "nargs" in keywords)
        self.generic_visit(node)

    def _text(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value))
                elif isinstance(value.value, ast.Name) and value.value.id in self.bindings:
                    parts.append(self.bindings[value.value.id])
                else:
                    return None
            return "".join(parts)
        return None


def read_flags(source: str) -> dict[str, Flag]:
    """Every ``--flag`` that ``parser.add_argument`` calls in ``source`` declare."""
    collector = _Collector()
    collector.visit(ast.parse(source))
    return collector.flags


def accepted_flags(module: str) -> dict[str, Flag]:
    """The flags of the installed entry point ``module`` (e.g. :data:`GRPO_ENTRY`)."""
    return read_flags(entry_source(module).read_text(encoding="utf-8"))


def check_flags(names: list[str], accepted: dict[str, Flag], module: str) -> None:
    """Refuse any flag the installed entry point does not accept, naming the closest ones."""
    for name in names:
        if name not in accepted:
            close = difflib.get_close_matches(name, list(accepted), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise InvalidArgument(f"{name} is not a flag of {module} in the installed OpenRLHF.{hint}")
