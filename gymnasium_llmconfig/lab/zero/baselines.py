"""The methods LLMZero is compared with (paper 003 §4.1, App. B.2-B.3, E.1): static baselines and ablations.

Static baselines run one from-scratch training run per iteration with a fixed config and no early
stopping (App. B.2: "each trial runs to completion"): the practitioner default once, the grid's
configs in an order shuffled by the seed (a fixed low-to-high LR order would make grid look worse
than it is at equal compute), random search's seeded draws. Each writes the search's ``tree.json`` shape
(every node parentless, kind ``scratch``), so the analysis and the reports read every method alike,
and resumes the same way: a rerun skips the trials already recorded. The ablations (§4.5) are
LLMZero itself with one :class:`SearchSettings` switch off; :data:`ABLATIONS` is the one place that
maps their names to the switch.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.zero import space
from gymnasium_llmconfig.lab.zero.search import TREE_FILE, trace_path
from gymnasium_llmconfig.lab.zero.settings import SearchSettings
from gymnasium_llmconfig.lab.zero.tree import Tree
from gymnasium_llmconfig.lab.zero.types import NodeRecord, PhaseConfig, PhaseResult, PhaseRunner, PhaseSpec

STATIC = ("grid", "random", "practitioner")
#: §4.5's ablations: LLMZero with one mechanism off.
ABLATIONS: dict[str, dict[str, bool]] = {
    "no-multistage": {"multi_stage": False},
    "no-earlystop": {"early_stop": False},
    "no-scratch": {"scratch_injection": False},
}
METHODS = ("llmzero", *STATIC, *ABLATIONS)


def check_methods(names: list[str]) -> list[str]:
    """``names`` without duplicates if each is a method; otherwise one message naming the bad ones."""
    bad = [n for n in names if n not in METHODS]
    if bad or not names:
        raise InvalidArgument(f"unknown method(s) {bad or names}: choose from {', '.join(METHODS)} "
                              "(comma-separated, e.g. --methods llmzero,grid)")
    return list(dict.fromkeys(names))


def search_settings(method: str, base: SearchSettings) -> SearchSettings:
    """The search settings LLMZero or one of its ablations runs under."""
    if method != "llmzero" and method not in ABLATIONS:
        raise InvalidArgument(f"{method!r} is not a search method: choose from llmzero, {', '.join(ABLATIONS)}")
    return replace(base, **ABLATIONS.get(method, {}))


def static_configs(method: str, iterations: int, seed: int) -> list[PhaseConfig]:
    """The trials of a static baseline, in run order: at most ``iterations`` (the practitioner runs once, the
    grid has :func:`space.grid_configs`'s 16, shuffled by ``Random(seed)``), random's drawn from ``Random(seed)``."""
    if method == "practitioner":
        return [space.PRACTITIONER]
    if method == "grid":
        grid = space.grid_configs()
        random.Random(seed).shuffle(grid)
        return grid[:iterations]
    if method == "random":
        rng = random.Random(seed)
        return [space.sample_config(rng) for _ in range(iterations)]
    raise InvalidArgument(f"{method!r} is not a static baseline: choose from {', '.join(STATIC)}")


def record(node_id: str, iteration: int, spec: PhaseSpec, result: PhaseResult) -> NodeRecord:
    """A static trial as a ``tree.json`` node: from scratch, nothing proposed, nothing changed."""
    return NodeRecord(
        id=node_id, parent=None, kind="scratch", iteration=iteration, resume_step=0,
        config=spec.config.to_dict(), steps=spec.steps, status=result.status, score=result.score,
        best_step=result.best_step, test_score=result.test_score,
        validations=[[s, v] for s, v in result.validations], checkpoints=[], tokens=result.tokens,
        cpu_seconds=result.cpu_seconds, wall_seconds=result.wall_seconds, trace=trace_path(node_id),
        failure=result.failure, stop_reason=result.stop_reason, proposer="static",
    )


def run_static(method: str, out_dir: Path, runner: PhaseRunner, settings: SearchSettings, *, steps: int) -> Tree:
    """Run ``method``'s trials of ``steps`` steps each (``LiveSettings.full_steps``) into ``out_dir/tree.json``,
    saved after every trial; trials already there are kept, not rerun (a killed trial reruns from its start)."""
    configs = static_configs(method, settings.iterations, settings.seed)
    path = Path(out_dir) / TREE_FILE
    tree = Tree.load(path) if path.is_file() else Tree(settings)
    for i in range(len(tree.nodes), len(configs)):
        node_id = f"t{i}"
        spec = PhaseSpec(parent=None, resume_step=0, config=configs[i], steps=steps)
        result = runner.run(node_id, spec, None, None)  # App. B.2: every trial runs to completion
        runner.release(node_id, set())  # no phase ever resumes from a static trial
        tree.add(record(node_id, i, spec, result))
        tree.save(path)
    return tree


def describe(method: str) -> dict[str, str]:
    """What a method is, for the comparison's summary and report."""
    if method in STATIC:
        return {"kind": "static", "what": {"grid": "App. E.1 LR x batch-size grid, order shuffled by seed",
                                           "random": "App. B.2-shaped random configs, seeded",
                                           "practitioner": "one run of the practitioner default"}[method]}
    what = "LLMZero" if method == "llmzero" else f"LLMZero with {next(iter(ABLATIONS[method]))} off"
    return {"kind": "search", "what": what}
