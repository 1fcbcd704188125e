"""The LLM early stopper (lab/zero/llm_stopper.py): decision parsing, the minimum-step guard, the default."""

from __future__ import annotations

import pytest
from zero_fixtures import ScriptedBackend, make_result, make_trace, mid_config

from gymnasium_llmconfig.errors import BackendConnectionError
from gymnasium_llmconfig.lab.zero.llm_stopper import LLMStopper, parse_decision
from gymnasium_llmconfig.lab.zero.types import PhaseProgress, PhaseSpec

BEST = make_result(make_trace(20), [(5, 0.3), (10, 0.4), (15, 0.5), (20, 0.5)])


def _running(done: int, resume: int = 10) -> PhaseProgress:
    spec = PhaseSpec(parent="n1", resume_step=resume, config=mid_config(), steps=20)
    trace = make_trace(done, start=resume)
    return PhaseProgress(spec, trace, [(resume + 5, 0.2)] if done >= 5 else [])


@pytest.mark.parametrize(("reply", "stop"), [
    ("REASON: flat at 0.2, far below 0.5.\nDECISION: STOP", True),
    ("REASON: still climbing.\nDECISION: CONTINUE", False),
    ("**REASON:** behind but steep\n**DECISION:** continue", False),
    ("<think>DECISION: CONTINUE</think>REASON: no way.\nDECISION: STOP", True),
    ("Decision - STOP", True),
])
def test_parse_decision(reply, stop):
    assert parse_decision(reply)[0] is stop


def test_parse_decision_reason_and_unreadable():
    assert parse_decision("REASON: flat  at\n 0.2.\nDECISION: STOP") == (True, "flat at 0.2.")
    assert parse_decision("I think we should stop-ish")[0] is None
    assert parse_decision("DECISION: MAYBE")[0] is None


def test_asks_only_after_the_minimum_steps_counted_from_the_resume_step():
    backend = ScriptedBackend(["REASON: hopeless.\nDECISION: STOP"])
    stopper = LLMStopper(backend, min_steps=10)
    early = stopper.decide(_running(9), BEST)
    assert not early.stop and "only 9 of the minimum 10" in early.reason and backend.chats == []
    late = stopper.decide(_running(10), BEST)
    assert late.stop and late.reason == "hopeless." and len(backend.chats) == 1
    prompt = backend.chats[0][1]["content"]
    assert "Best validation score: 0.5 at step 15" in prompt and "10 of 20 steps done" in prompt
    assert "Never STOP before 10 steps" in prompt


def test_no_best_means_continue_without_asking():
    backend = ScriptedBackend([])
    assert not LLMStopper(backend).decide(_running(15), None).stop and backend.chats == []


def test_unreadable_reply_counts_as_continue_and_is_recorded():
    stopper = LLMStopper(ScriptedBackend(["hmm, hard to say"]), min_steps=1)
    decision = stopper.decide(_running(5), BEST)
    assert not decision.stop and "counted as CONTINUE" in decision.reason and "hard to say" in decision.reason
    assert stopper.unreadable == 1 and stopper.calls == 1


def test_endpoint_down_passes_through():
    stopper = LLMStopper(ScriptedBackend([BackendConnectionError("could not reach the chat endpoint")]), min_steps=1)
    with pytest.raises(BackendConnectionError):
        stopper.decide(_running(5), BEST)
