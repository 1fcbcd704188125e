"""The ``hwgpt`` registry format: an Arch fidelity (GPT scale) from its pinned surrogate weights."""

from __future__ import annotations

from gymnasium_llmconfig.data import cache_dir, locate
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.registry import FidelitySpec, RegistryError, TaskSpec
from gymnasium_llmconfig.tasks.arch.problem import ArchProblem


def build_problem(
    task: TaskSpec,
    fidelity: FidelitySpec,
    *,
    reveal_names: bool = False,
    target: str | None = None,
    download: bool = False,
) -> ArchProblem:
    """Build one scale's problem; keys: task ``metric``/``pool_size``/``pool_seed``, fidelity ``scale``/``weights``."""
    if target is not None:
        raise InvalidArgument(f"Task {task.name} has a single target (perplexity/max + FLOPs/max); do not pass target=")
    for key in ("scale", "weights"):
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
