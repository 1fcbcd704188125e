"""The ``hwgpt`` registry format: an Arch fidelity (GPT scale) from its pinned surrogate weights."""

from __future__ import annotations

from gymnasium_llmconfig.data import cache_dir, locate
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.registry import (
    FIDELITY_DISPLAY_KEYS,
    TASK_DISPLAY_KEYS,
    FidelitySpec,
    RegistryError,
    TaskSpec,
    check_keys,
)
from gymnasium_llmconfig.tasks.arch.problem import ArchProblem

#: The format's keys: task ``metric`` ({name, description}), ``pool_size``, ``pool_seed``.
TASK_KEYS = frozenset({"metric", "pool_size", "pool_seed"})
#: Each fidelity's ``scale`` (GPT-S/M/L) and ``weights`` (the source holding its surrogate).
FIDELITY_KEYS = frozenset({"scale", "weights"})


def build_problem(
    task: TaskSpec,
    fidelity: FidelitySpec,
    *,
    reveal_names: bool = False,
    target: str | None = None,
    download: bool = False,
) -> ArchProblem:
    """Build one scale's problem (a :class:`~gymnasium_llmconfig.registry.ProblemBuilder`)."""
    if target is not None:
        raise InvalidArgument(f"Task {task.name} has a single target (perplexity/max + FLOPs/max); do not pass target=")
    check_keys(task.options, TASK_KEYS | TASK_DISPLAY_KEYS, f"{task.origin}: task {task.name!r}")
    check_keys(fidelity.options, FIDELITY_KEYS | FIDELITY_DISPLAY_KEYS, f"{task.origin}: env {fidelity.env_id!r}")
    for key in sorted(FIDELITY_KEYS):
        if key not in fidelity.options:
            raise RegistryError(f"{task.origin}: Arch env {fidelity.env_id!r} needs a {key!r} key")
    source_name = str(fidelity.options["weights"])
    if source_name not in task.sources:
        raise RegistryError(f"{task.origin}: Arch env {fidelity.env_id!r} names unknown source {source_name!r}")
    weights = locate(task.sources[source_name], download=download, needed_by=fidelity.env_id)
    metric = task.options.get("metric") or {}
    info = task.info(
        reveal_names,
        str(metric.get("name", "perplexity/max + FLOPs/max")),
        "minimize",
        str(metric.get("description", "")),
    )
    fid = fidelity.info(reveal_names)
    return ArchProblem(
        fidelity.env_id,
        info,
        fid,
        scale=str(fidelity.options["scale"]),
        weights_path=weights,
        cache_dir=cache_dir() / "arch",
        pool_size=int(task.options.get("pool_size", 10_000)),
        pool_seed=int(task.options.get("pool_seed", 0)),
    )
