"""``llmconfig zero run``'s body: check everything, run (or resume) one search over live phases, write its report.

Every check happens before any training: the proposer, the stopper and their ``--agent-arg`` keys
(the factories), the live settings, and, when ``OUT`` already holds a search, that it was started
with the same settings (``run.json`` keeps the live settings and the agents' kinds, ``tree.json`` the
search settings). A larger ``--iterations`` extends a finished search.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.errors import BackendError, InvalidArgument
from gymnasium_llmconfig.lab.zero.live import LivePhaseRunner, LiveSettings
from gymnasium_llmconfig.lab.zero.search import TREE_FILE, open_tree, run_search
from gymnasium_llmconfig.lab.zero.settings import SearchSettings
from gymnasium_llmconfig.lab.zero.tree import Tree
from gymnasium_llmconfig.lab.zero.types import NodeRecord
from gymnasium_llmconfig.storage import atomic_write

RUN_FILE = "run.json"
#: Live settings whose command-line flag is not their name in kebab case.
_FLAGS = {"default_steps": "--steps"}


def parse_agent_args(items: Sequence[str]) -> dict[str, Any]:
    """``--agent-arg key=value`` pairs (values read as JSON when they parse), shared by proposer and stopper."""
    from gymnasium_llmconfig.lab.leaderboard.runner import parse_agent_args as parse

    return parse(items, ["zero"])["zero"]


def agent_args_for(live: LiveSettings, args: dict[str, Any]) -> dict[str, Any]:
    """The options the proposer and stopper factories get: ``args``, over what the live phases fix. The
    extrapolation stopper's noise estimate needs the validation set's size (its SE, App. G.2 made numeric)."""
    return {"val_size": live.val_size, **args}


@dataclass(frozen=True)
class ZeroRun:
    """One ``zero run`` invocation: where, the search's and the live phases' settings, the agents."""

    out: Path
    search: SearchSettings
    live: LiveSettings
    proposer: str = "heuristic"
    stopper: str = "extrapolation"
    agent_args: dict[str, Any] | None = None

    def identity(self) -> dict[str, Any]:
        """What a resumed run must share with the one that started ``out`` (agent args may change: a new URL)."""
        return {"live": self.live.to_dict(), "proposer": self.proposer, "stopper": self.stopper}


def _check_resumable(run: ZeroRun) -> None:
    """Refuse to resume ``run.out`` under other settings than it was started with, naming what they were."""
    path = run.out / RUN_FILE
    if path.exists():
        was, now = json.loads(path.read_text()), run.identity()
        was_live = was.get("live", {})
        differ = [f"{_FLAGS.get(k, '--' + k.replace('_', '-'))} {was_live.get(k)}" for k in now["live"]
                  if was_live.get(k) != now["live"][k]]
        differ += [f"--{k} {was.get(k)}" for k in ("proposer", "stopper") if was.get(k) != now[k]]
        if differ:
            raise InvalidArgument(f"{run.out} holds a search started with {', '.join(differ)}: rerun with those "
                                  "to resume it, or pass a new --out")
    open_tree(run.out / TREE_FILE, run.search)  # the search settings (seed, constants) must match too


def run_zero(run: ZeroRun, progress: Callable[[NodeRecord], None] | None = None) -> tuple[Tree, tuple[Path, Path]]:
    """Run or resume the search in ``run.out``, then write ``report.md`` and ``report.html`` there.

    An LLM endpoint that stops answering ends the run with one message; ``tree.json`` keeps every
    finished phase and the same command resumes it.
    """
    from gymnasium_llmconfig.lab.zero.factory import make_proposer, make_stopper
    from gymnasium_llmconfig.lab.zero.report import write_run_report

    if run.live.seed != run.search.seed or run.live.default_steps != run.search.default_steps:
        raise InvalidArgument("the live and search settings disagree on seed or default_steps; set them once")
    run.live.validate()
    args = agent_args_for(run.live, run.agent_args or {})
    proposer = make_proposer(run.proposer, args)
    stopper = make_stopper(run.stopper, args)
    _check_resumable(run)
    atomic_write(run.out / RUN_FILE, lambda f: json.dump(run.identity(), f, indent=1))
    runner = LivePhaseRunner(run.live, run.out)
    try:
        tree = run_search(run.out, runner, proposer, stopper, run.search, progress)
    except BackendError as exc:
        done = len(Tree.load(run.out / TREE_FILE).nodes) if (run.out / TREE_FILE).exists() else 0
        raise type(exc)(f"{exc} -- the search stopped; {run.out / TREE_FILE} keeps its {done} finished "
                        "phase(s): rerun the same command to resume") from exc
    return tree, write_run_report(run.out)


def zero_run(out: Path, *, iterations: int, seed: int, proposer: str, stopper: str, agent_args: Sequence[str],
             live: dict[str, Any]) -> ZeroRun:
    """The run the command line describes: ``live`` overrides LiveSettings' defaults."""
    settings = replace(LiveSettings(), seed=seed, **live)
    return ZeroRun(out=Path(out), search=SearchSettings(iterations=iterations, seed=seed,
                                                        default_steps=settings.default_steps),
                   live=settings, proposer=proposer, stopper=stopper, agent_args=parse_agent_args(agent_args))
