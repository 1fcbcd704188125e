"""The live schedule environment (paper 003 §3.3, §3.5): real tiny GRPO phases, resume, stop, failures, release."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from agents.llm.backend import BackendUnavailable
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.grpo.policy import read_metadata
from gymnasium_llmconfig.lab.zero.live import LivePhaseRunner, LiveSettings
from gymnasium_llmconfig.lab.zero.space import PRACTITIONER
from gymnasium_llmconfig.lab.zero.types import PhaseProgress, PhaseResult, PhaseSpec, StopDecision
from gymnasium_llmconfig.storage import read_jsonl

SETTINGS = LiveSettings(family="sort5", samples=64, n_layer=1, val_size=32, test_size=32, val_every=2,
                        default_steps=6, full_steps=6)
CFG = replace(PRACTITIONER, lr=5e-4)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> LivePhaseRunner:
    torch.set_num_threads(1)
    return LivePhaseRunner(replace(SETTINGS, cache_dir=str(tmp_path_factory.mktemp("cache"))),
                           tmp_path_factory.mktemp("search"))


@pytest.fixture(scope="module")
def root(runner: LivePhaseRunner) -> PhaseResult:
    return runner.run("n0", PhaseSpec(None, 0, CFG, 6), None, None)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_a_phase_streams_its_trace_validates_checkpoints_and_tests_at_the_best(runner: LivePhaseRunner,
                                                                              root: PhaseResult) -> None:
    assert root.status == "completed" and root.failure == "" and root.stop_reason == ""
    lines = read_jsonl(runner.trace_path("n0"))
    assert lines == root.trace and [x["step"] for x in lines] == [1, 2, 3, 4, 5, 6]
    assert {"reward_mean", "reward_std", "entropy", "kl", "clip_fraction", "grad_norm", "response_length",
            "truncation_ratio", "tokens", "step_seconds"} <= set(lines[0])
    assert [(x["step"], x["val"]) for x in lines if "val" in x] == root.validations
    assert [s for s, _ in root.validations] == root.checkpoints == [2, 4, 6]
    for step in root.checkpoints:
        assert read_metadata(runner.checkpoint("n0", step))["step"] == str(step)
    best = max(v for _, v in root.validations)
    assert root.score == best and root.best_step == next(s for s, v in root.validations if v == best)
    assert root.test_score is not None and 0.0 <= root.test_score <= 1.0
    assert root.tokens == sum(x["tokens"] for x in lines) > 0
    assert root.cpu_seconds > 0 and root.wall_seconds > 0
    assert any(x["clip_fraction"] > 0 for x in lines)  # two updates per batch: the clip bounds act


def test_same_node_same_phase(runner: LivePhaseRunner, root: PhaseResult) -> None:
    again = runner.run("n0", PhaseSpec(None, 0, CFG, 6), None, None)
    assert [x["reward_mean"] for x in again.trace] == [x["reward_mean"] for x in root.trace]
    assert again.validations == root.validations


def test_resume_continues_at_the_global_step_from_the_parents_weights(runner: LivePhaseRunner,
                                                                       root: PhaseResult) -> None:
    frozen = replace(CFG, lr=0.0)  # no update: the child's weights stay the parent's
    child = runner.run("n1", PhaseSpec("n0", 4, frozen, 2), None, None)
    assert child.status == "completed"
    assert [x["step"] for x in child.trace] == [5, 6] and child.checkpoints == [6]
    parent_w, child_w = _weights(runner.checkpoint("n0", 4)), _weights(runner.checkpoint("n1", 6))
    assert all(torch.equal(parent_w[k], child_w[k]) for k in parent_w)
    assert child.validations == [(6, dict(root.validations)[4])]
    # a fresh data order: the child's first batch is not what the parent saw at step 5
    assert child.trace[0]["reward_mean"] != root.trace[4]["reward_mean"] or child.trace[0]["kl"] != root.trace[4]["kl"]


class _Stub:
    name = "stub"

    def __init__(self, stop_at: int | None) -> None:
        self.stop_at, self.seen = stop_at, []

    def decide(self, running: PhaseProgress, best: PhaseResult | None) -> StopDecision:
        self.seen.append((list(running.validations), best))
        step = running.validations[-1][0]
        return StopDecision(step == self.stop_at, f"stub at {step}")


def test_the_stopper_is_asked_after_each_validation_but_the_last(runner: LivePhaseRunner, root: PhaseResult) -> None:
    keep_going = _Stub(None)
    done = runner.run("n2", PhaseSpec(None, 0, CFG, 6), keep_going, root)
    assert done.status == "completed"
    assert [len(v) for v, _ in keep_going.seen] == [1, 2] and keep_going.seen[0][1] is root
    stop = _Stub(2)
    stopped = runner.run("n3", PhaseSpec(None, 0, CFG, 6), stop, root)
    assert stopped.status == "early-stopped" and stopped.stop_reason == "stub at 2"
    assert [x["step"] for x in stopped.trace] == [1, 2] and stopped.checkpoints == [2]


class _EndpointDown:
    name = "down"

    def decide(self, running: PhaseProgress, best: PhaseResult | None) -> StopDecision:
        raise BackendUnavailable("the stopper's endpoint at http://127.0.0.1:9 is down")


def test_an_unreachable_llm_stopper_is_not_the_phases_failure(runner: LivePhaseRunner, root: PhaseResult) -> None:
    """The search must see the endpoint error (one message, tree kept), not record a failed phase."""
    with pytest.raises(BackendUnavailable, match=r"endpoint at http://127\.0\.0\.1:9 is down"):
        runner.run("n8", PhaseSpec(None, 0, CFG, 6), _EndpointDown(), root)


def test_memory_over_budget_fails_before_training(runner: LivePhaseRunner) -> None:
    big = replace(CFG, batch_size=64, rollouts=8, max_response_length=8)  # 4096 > 2048
    res = runner.run("n4", PhaseSpec(None, 0, big, 6), None, None)
    assert res.status == "failed" and res.tokens == 0 and res.trace == [] and res.checkpoints == []
    assert res.failure == ("memory: 4096 token slots (batch 64 x rollouts 8 x length 8) > budget 2048; "
                           "lower batch_size, rollouts or max_response_length")
    assert not runner.trace_path("n4").exists()


def test_divergence_and_errors_are_failed_outcomes(runner: LivePhaseRunner) -> None:
    diverged = runner.run("n5", PhaseSpec(None, 0, replace(CFG, lr=1e30), 6), None, None)
    assert diverged.status == "failed" and diverged.failure == "diverged"
    assert len(diverged.trace) < 6
    missing = runner.run("n6", PhaseSpec("nope", 4, CFG, 2), None, None)
    assert missing.status == "failed"
    assert missing.failure.startswith("FileNotFoundError: no checkpoint of nope at step 4")
    too_big = runner.run("n7", PhaseSpec(None, 0, replace(CFG, batch_size=65, rollouts=2), 2), None, None)
    assert too_big.status == "failed" and "batch_size=65 is larger than the training set (64" in too_big.failure


def test_release_keeps_only_the_resumable_checkpoints(runner: LivePhaseRunner) -> None:
    runner.run("n8", PhaseSpec(None, 0, CFG, 6), None, None)
    runner.release("n8", {4})
    assert sorted(p.name for p in (runner.out / "checkpoints" / "n8").iterdir()) == ["step4.safetensors"]
    runner.release("n8", set())
    assert not (runner.out / "checkpoints" / "n8").exists()
    assert runner.trace_path("n8").exists()  # the trace stays for the report


def test_settings_round_trip_and_bad_settings_say_what_to_fix() -> None:
    assert LiveSettings.from_dict(SETTINGS.to_dict()) == SETTINGS
    with pytest.raises(InvalidArgument, match=r"unknown live setting\(s\) \['epochs'\]"):
        LiveSettings.from_dict({**SETTINGS.to_dict(), "epochs": 3})
    with pytest.raises(InvalidArgument, match="family sort9's answers need 10 tokens"):
        LivePhaseRunner(replace(SETTINGS, family="sort9"), Path("unused"))
    with pytest.raises(InvalidArgument, match="val_every must be >= 1"):
        LivePhaseRunner(replace(SETTINGS, val_every=0), Path("unused"))


def test_a_task_that_cannot_be_set_up_is_a_failed_phase(tmp_path: Path) -> None:
    tiny = replace(SETTINGS, family="sort1")  # 10 distinct prompts in all, 64 asked for
    res = LivePhaseRunner(tiny, tmp_path).run("n0", PhaseSpec(None, 0, CFG, 2), None, None)
    assert res.status == "failed" and res.trace == [] and res.cpu_seconds == 0.0
    assert res.failure.startswith("CollectError: task family sort1 has fewer than 64 distinct train prompts")
