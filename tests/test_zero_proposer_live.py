"""The proposers on real tiny GRPO phases (live.py): their proposals run, resume where they say, and a
memory failure is debugged into a phase that fits."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from zero_fixtures import ScriptedBackend

from gymnasium_llmconfig.lab.zero import space
from gymnasium_llmconfig.lab.zero.live import LivePhaseRunner, LiveSettings
from gymnasium_llmconfig.lab.zero.proposer import HeuristicProposer, LLMProposer
from gymnasium_llmconfig.lab.zero.types import PhaseResult, PhaseSpec, ProposalContext

SETTINGS = LiveSettings(family="sort5", samples=64, n_layer=1, val_size=32, test_size=32, val_every=2,
                        default_steps=6, full_steps=6, memory_budget=300)
ROOT = replace(space.PRACTITIONER, batch_size=8)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> LivePhaseRunner:
    torch.set_num_threads(1)
    return LivePhaseRunner(replace(SETTINGS, cache_dir=str(tmp_path_factory.mktemp("cache"))),
                           tmp_path_factory.mktemp("search"))


@pytest.fixture(scope="module")
def root(runner: LivePhaseRunner) -> PhaseResult:
    return runner.run("n0", PhaseSpec(None, 0, ROOT, SETTINGS.default_steps), None, None)


def _ctx(result: PhaseResult, mode: str = "evolve", config: space.PhaseConfig = ROOT, seed: int = 1
         ) -> ProposalContext:
    return ProposalContext(mode=mode, parent_config=config, parent_result=result,  # type: ignore[arg-type]
                           checkpoints=list(result.checkpoints) if mode == "evolve" else [],
                           best_score=result.score, default_steps=SETTINGS.default_steps, seed=seed)


def test_proposals_on_a_real_trace_run_from_the_chosen_checkpoint(runner: LivePhaseRunner, root: PhaseResult):
    assert root.status == "completed" and root.checkpoints == [2, 4, 6]
    heuristic = HeuristicProposer().propose(_ctx(root))
    assert heuristic.resume_step == root.best_step and heuristic.changes
    reply = json.dumps({"diagnosis": "fine", "changes": {"lr": "4e-4", "rollouts": 99}, "checkpoint": 3, "steps": 4})
    llm = LLMProposer(ScriptedBackend([reply])).propose(_ctx(root))
    assert (llm.resume_step, llm.steps, llm.clamped) == (2, 4, ["rollouts"])
    for node, p in (("h1", heuristic), ("l1", llm)):
        result = runner.run(node, PhaseSpec("n0", p.resume_step, p.config, p.steps), None, root)
        assert result.status in ("completed", "failed")
        if result.status == "completed":
            assert result.trace[0]["step"] == p.resume_step + 1
            assert result.trace[-1]["step"] == p.resume_step + p.steps


def test_a_memory_failure_is_debugged_until_the_phase_fits(runner: LivePhaseRunner):
    config = replace(ROOT, batch_size=32)  # 32 x 4 x 6 = 768 token slots > the budget of 300
    result = runner.run("m0", PhaseSpec(None, 0, config, 2), None, None)
    assert result.status == "failed" and "memory" in result.failure
    for attempt in range(1, 6):
        proposal = HeuristicProposer().propose(_ctx(result, mode="debug", config=config, seed=attempt))
        assert space.memory_units(proposal.config) < space.memory_units(config)
        config = proposal.config
        result = runner.run(f"m{attempt}", PhaseSpec(None, 0, config, 2), None, None)
        if result.status == "completed":
            break
    assert result.status == "completed" and space.memory_units(config) <= SETTINGS.memory_budget
