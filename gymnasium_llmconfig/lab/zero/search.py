"""Algorithm 1 of paper 003 (App. D.1): select, propose, run a live phase, backpropagate, prune; resumable.

One iteration is one phase, the root included (``iterations=16`` runs 16 phases, as App. E.5's
tables count nodes). Iteration 0 runs the root config from scratch. Each later iteration first
checks §3.3's forced injection (a scratch child of the best node when n_scratch/n_evolve <
rho_min), otherwise selects by UCT (App. D.3); a failed node gets a debug proposal, any other an
evolve proposal; if the whole tree is terminal a scratch child of the best node is the only
move left (or, with injection ablated, the search ends early).

Resume edges: an evolve child resumes from its parent's checkpoint (the proposer's step snapped to
the nearest saved one; the request is recorded); a debug child fixes the failed phase where its
chain started (that phase's parent, one of whose checkpoints it picks); a scratch child starts from
the base policy with its checkpoints withheld from the proposer. Without multi-stage (§4.5) every
phase starts from scratch and the proposer is shown no checkpoints.

``tree.json`` is written atomically after every finished phase. A killed search rerun on the same
directory discards the interrupted phase's trace and checkpoints and reruns it from its start; all
randomness handed out comes from ``(seed, iteration)``, so the resumed tree equals an uninterrupted one.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.zero.answers import nearest_checkpoint
from gymnasium_llmconfig.lab.zero.settings import SearchSettings
from gymnasium_llmconfig.lab.zero.tree import Tree
from gymnasium_llmconfig.lab.zero.types import (
    EarlyStopper,
    NodeKind,
    NodeRecord,
    PhaseConfig,
    PhaseResult,
    PhaseRunner,
    PhaseSpec,
    Proposal,
    ProposalContext,
    Proposer,
)
from gymnasium_llmconfig.storage import atomic_write, jsonable, read_jsonl

__all__ = ["SearchSettings", "iteration_seed", "open_tree", "result_of", "run_search"]

TREE_FILE = "tree.json"


def iteration_seed(seed: int, iteration: int) -> int:
    """The proposer's seed for one iteration: a function of (search seed, iteration) only, so resume is exact."""
    return random.Random(f"llmzero:{seed}:{iteration}").getrandbits(31)


def trace_path(node_id: str) -> str:
    """A node's per-step metric file, relative to the search directory (the runner streams it there)."""
    return f"nodes/{node_id}/trace.jsonl"


def result_of(node: NodeRecord, out_dir: Path) -> PhaseResult:
    """A finished node as the proposer and the stopper see it, trace read back from its file."""
    return PhaseResult(
        status=node.status, score=node.score, best_step=node.best_step, test_score=node.test_score,
        validations=[(int(s), float(v)) for s, v in node.validations], trace=read_jsonl(out_dir / node.trace),
        checkpoints=list(node.checkpoints), tokens=node.tokens, cpu_seconds=node.cpu_seconds,
        wall_seconds=node.wall_seconds, failure=node.failure, stop_reason=node.stop_reason)


@dataclass(frozen=True)
class _Plan:
    """What an iteration will run and where the new node hangs in the tree."""

    kind: NodeKind
    spec: PhaseSpec
    anchor: str | None
    origin: str | None
    proposal: Proposal | None
    resume_requested: int | None


def _from_proposal(kind: NodeKind, at: NodeRecord, resume_from: NodeRecord | None, proposal: Proposal,
                   settings: SearchSettings) -> _Plan:
    """Turn a proposal into a phase: resume from one of ``resume_from``'s checkpoints or from scratch."""
    steps = proposal.steps if proposal.steps >= 1 else settings.default_steps
    saved = resume_from.checkpoints if resume_from is not None and settings.multi_stage else []
    if kind == "scratch" or proposal.resume_step is None or not saved:
        spec = PhaseSpec(parent=None, resume_step=0, config=proposal.config, steps=steps)
        return _Plan(kind, spec, at.id, at.id, proposal, None)
    step = nearest_checkpoint(proposal.resume_step, saved)
    spec = PhaseSpec(parent=resume_from.id, resume_step=step, config=proposal.config, steps=steps)  # type: ignore[union-attr]
    return _Plan(kind, spec, at.id, at.id, proposal, None if step == proposal.resume_step else proposal.resume_step)


def _plan(tree: Tree, iteration: int, proposer: Proposer, settings: SearchSettings, root_config: PhaseConfig,
          out_dir: Path) -> _Plan | None:
    """Algorithm 1 lines 4-10 (plus §3.3's injection); ``None`` when nothing is left to expand."""
    if iteration == 0:
        spec = PhaseSpec(parent=None, resume_step=0, config=root_config, steps=settings.default_steps)
        return _Plan("root", spec, None, None, None, None)
    best = tree.best_node()
    restart = settings.scratch_injection and best is not None  # a fresh start needs a best node to hang under
    selected = None if restart and tree.needs_scratch() else tree.select()
    if selected is None and not restart:
        return None  # the whole tree is terminal and a fresh start is ablated (or nothing validated yet)
    at: NodeRecord = tree.nodes[selected] if selected is not None else best  # type: ignore[assignment]
    if selected is None:
        mode, kind, resume_from = "scratch", "scratch", None
    elif at.status == "failed":  # Algorithm 1 line 5: fix it where its chain of failures started
        start = tree.chain_start(at.id)
        mode, kind = "debug", "debug"
        resume_from = tree.nodes[start.parent] if start.parent is not None else None
    else:
        mode, kind, resume_from = "evolve", "evolve", at
    checkpoints = list(resume_from.checkpoints) if resume_from is not None and settings.multi_stage else []
    ctx = ProposalContext(
        mode=mode, parent_config=PhaseConfig.from_dict(at.config), parent_result=result_of(at, out_dir),  # type: ignore[arg-type]
        checkpoints=checkpoints, best_score=best.score if best else None, default_steps=settings.default_steps,
        early_stopped=at.stop_reason if at.status == "early-stopped" else "",
        seed=iteration_seed(settings.seed, iteration))
    return _from_proposal(kind, at, resume_from, proposer.propose(ctx), settings)  # type: ignore[arg-type]


def _record(node_id: str, iteration: int, plan: _Plan, result: PhaseResult) -> NodeRecord:
    proposal = plan.proposal
    return NodeRecord(
        id=node_id, parent=plan.spec.parent, kind=plan.kind, iteration=iteration, resume_step=plan.spec.resume_step,
        config=plan.spec.config.to_dict(), steps=plan.spec.steps, status=result.status, score=result.score,
        best_step=result.best_step, test_score=result.test_score,
        validations=[[step, value] for step, value in result.validations], checkpoints=list(result.checkpoints),
        tokens=result.tokens, cpu_seconds=result.cpu_seconds, wall_seconds=result.wall_seconds,
        trace=trace_path(node_id), failure=result.failure, stop_reason=result.stop_reason,
        diagnosis=proposal.diagnosis if proposal else "the default configuration (root)",
        changes=dict(proposal.changes) if proposal else {}, clamped=list(proposal.clamped) if proposal else [],
        proposer=proposal.source if proposal else "default", anchor=plan.anchor, origin=plan.origin,
        resume_requested=plan.resume_requested)


def _keep(tree: Tree) -> dict[str, set[int]]:
    """Per node, the checkpoints something may still need (§3.3: the rest are deleted).

    A node that may still get evolve children keeps all of its own; the start of an open debug
    chain's resume point keeps its parent's; the best node keeps its best-validation weights
    (its last checkpoint when that step was not saved).
    """
    keep: dict[str, set[int]] = {n.id: set() for n in tree.nodes.values() if n.checkpoints}
    if tree.settings.multi_stage:
        for node in tree.live():
            if node.id in keep and node.status != "failed" and not tree.exhausted(node.id):
                keep[node.id].update(node.checkpoints)
            if node.status == "failed" and not tree.exhausted(node.id):
                source = tree.chain_start(node.id).parent
                if source is not None and source in keep:
                    keep[source].update(tree.nodes[source].checkpoints)
    best = tree.best_node()
    if best is not None and best.id in keep:
        keep[best.id].add(best.best_step if best.best_step in best.checkpoints else max(best.checkpoints))
    return keep


def _release(tree: Tree, runner: PhaseRunner, done: dict[str, set[int]]) -> None:
    """Tell the runner to drop what no live node can resume from; each node only when its keep set changed."""
    for node_id, steps in _keep(tree).items():
        if done.get(node_id) != steps:
            runner.release(node_id, steps)
            done[node_id] = steps


def _discard_interrupted(out_dir: Path, runner: PhaseRunner, node_id: str) -> None:
    """A phase killed mid-run is rerun from its start: its partial trace and checkpoints go first."""
    if (out_dir / "nodes" / node_id).exists() or (out_dir / "checkpoints" / node_id).exists():
        shutil.rmtree(out_dir / "nodes" / node_id, ignore_errors=True)
        runner.release(node_id, set())


def _keep_trace(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write the phase's trace when the runner did not stream it there itself (the file is the record)."""
    if not path.exists():
        atomic_write(path, lambda f: f.writelines(json.dumps(jsonable(row)) + "\n" for row in rows))


def open_tree(path: Path, settings: SearchSettings) -> Tree:
    """A fresh tree, or the saved one when its settings match (a larger ``iterations`` extends it, a smaller
    one than it holds is refused: the file would claim a budget its nodes exceed)."""
    if not path.exists():
        return Tree(settings)
    tree = Tree.load(path)
    ours, theirs = settings.to_dict(), tree.settings.to_dict()
    differ = [k for k in ours if k != "iterations" and ours[k] != theirs[k]]
    if differ:
        was = ", ".join(f"{k}={theirs[k]!r}" for k in differ)
        now = ", ".join(f"{k}={ours[k]!r}" for k in differ)
        raise InvalidArgument(f"{path} was searched with {was}, not {now}: rerun with the same settings "
                              "to resume it, or pass a new output directory")
    if settings.iterations < len(tree.nodes):
        raise InvalidArgument(f"{path} already holds {len(tree.nodes)} phases; ask for at least that many "
                              f"iterations (not {settings.iterations}) to resume or extend it")
    tree.settings = settings
    return tree


def run_search(out_dir: Path, runner: PhaseRunner, proposer: Proposer, stopper: EarlyStopper | None,
               settings: SearchSettings, progress: Callable[[NodeRecord], None] | None = None, *,
               root_config: PhaseConfig | None = None) -> Tree:
    """Run (or resume) Algorithm 1 in ``out_dir`` until the tree holds ``settings.iterations`` phases.

    ``root_config`` is the root phase's configuration; by default the practitioner recipe of
    :mod:`.space` (App. B.2), imported only then so callers with their own root need nothing more.
    ``stopper`` watches every phase unless ``settings.early_stop`` is off, comparing it with the
    best completed or early-stopped phase so far (§3.5; ``None`` while there is none, as for the
    root). ``progress`` is called with every finished node.
    """
    out_dir = Path(out_dir)
    path = out_dir / TREE_FILE
    tree = open_tree(path, settings)
    if root_config is None and not tree.nodes:
        from gymnasium_llmconfig.lab.zero.space import PRACTITIONER

        root_config = PRACTITIONER
    watch = stopper if settings.early_stop else None
    released: dict[str, set[int]] = {}
    _release(tree, runner, released)
    while len(tree.nodes) < settings.iterations:
        iteration = len(tree.nodes)
        node_id = f"n{iteration}"
        _discard_interrupted(out_dir, runner, node_id)
        plan = _plan(tree, iteration, proposer, settings, root_config, out_dir)  # type: ignore[arg-type]
        if plan is None:
            break
        best = tree.best_node()
        result = runner.run(node_id, plan.spec, watch, result_of(best, out_dir) if best else None)
        _keep_trace(out_dir / trace_path(node_id), result.trace)
        record = _record(node_id, iteration, plan, result)
        tree.add(record)
        tree.save(path)
        _release(tree, runner, released)
        if progress is not None:
            progress(record)
    tree.save(path)
    return tree
