"""Proposers and stoppers by name (lab/zero/factory.py): kinds, agent args, clear errors."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import require_smollm2
from test_llm_agent_openai import CannedServer, completion, server  # noqa: F401 (a fixture)
from zero_fixtures import make_ctx, make_result, make_trace, mid_config

from gymnasium_llmconfig.errors import BackendError, InvalidArgument
from gymnasium_llmconfig.lab.leaderboard.runner import parse_agent_args
from gymnasium_llmconfig.lab.zero import space
from gymnasium_llmconfig.lab.zero.factory import PROPOSERS, STOPPERS, build_backend, make_proposer, make_stopper
from gymnasium_llmconfig.lab.zero.llm_stopper import LLMStopper
from gymnasium_llmconfig.lab.zero.proposer import HeuristicProposer, LLMProposer
from gymnasium_llmconfig.lab.zero.types import PhaseProgress, PhaseSpec

DOWN = {"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "max_retries": "0", "timeout": "2"}


def test_kinds_and_unknown_kinds():
    assert PROPOSERS == ("heuristic", "llm") and STOPPERS == ("extrapolation", "llm", "none")
    assert isinstance(make_proposer("heuristic", {}), HeuristicProposer)
    assert make_stopper("none", {}) is None
    with pytest.raises(InvalidArgument, match="unknown proposer 'oracle'; choose one of heuristic, llm"):
        make_proposer("oracle", {})
    with pytest.raises(InvalidArgument, match="choose one of extrapolation, llm, none"):
        make_stopper("patience", {})


def test_unknown_or_badly_typed_args():
    with pytest.raises(InvalidArgument, match=r"unknown --agent-arg key\(s\) colour; known keys: .*base_url"):
        make_proposer("heuristic", {"colour": "red"})
    with pytest.raises(InvalidArgument, match="retries='two': expected an integer"):
        make_proposer("llm", {**DOWN, "retries": "two"})
    with pytest.raises(InvalidArgument, match="backend='claude' is not a chat backend"):
        make_proposer("llm", {"backend": "claude"})
    with pytest.raises(InvalidArgument, match="images=true needs backend=openai"):
        make_proposer("llm", {"images": "true"})


def test_llm_kinds_take_typed_args_from_text_or_parsed_values():
    proposer = make_proposer("llm", {**DOWN, "retries": "1", "temperature": "0.2", "images": "yes"})
    assert isinstance(proposer, LLMProposer)
    assert (proposer.retries, proposer.temperature, proposer.images) == (1, 0.2, True)
    assert proposer.backend.model == "m" and proposer.backend.max_retries == 0
    parsed = parse_agent_args(["backend=openai", "model=m", "min_steps=4", "base_url=http://127.0.0.1:9/v1"],
                              ["llm"])["llm"]
    stopper = make_stopper("llm", parsed)
    assert isinstance(stopper, LLMStopper) and stopper.min_steps == 4


def test_endpoint_down_is_a_clear_backend_error():
    proposer = make_proposer("llm", DOWN)
    with pytest.raises(BackendError, match=r"could not reach the chat endpoint http://127.0.0.1:9/v1"):
        proposer.propose(make_ctx())


@pytest.mark.skipif(importlib.util.find_spec("gymnasium_llmconfig.lab.zero.stopper") is None,
                    reason="zeroengine's stopper.py not merged yet")
def test_extrapolation_stopper_by_name():
    from gymnasium_llmconfig.lab.zero.stopper import ExtrapolationStopper

    assert isinstance(make_stopper("extrapolation", {"model": "ignored-by-it"}), ExtrapolationStopper)


@pytest.mark.slow
def test_local_smollm2_drives_both_llm_kinds():
    """The real local backend end to end: a 135M model rarely writes the JSON, so this mostly checks
    that its replies flow through (answer or counted fallback) and that the stopper gets a decision."""
    require_smollm2()
    backend = build_backend({"num_threads": 1})
    proposer = LLMProposer(backend, retries=0, max_new_tokens=48)
    p = proposer.propose(make_ctx(seed=1))
    assert p.source in ("llm", "fallback") and p.parse_failures == (p.source == "fallback")
    assert space.clamp_config(p.config.to_dict()) == (p.config, [])
    best = make_result(make_trace(20), [(10, 0.4), (20, 0.5)])
    running = PhaseProgress(PhaseSpec(None, 0, mid_config(), 20), make_trace(12), [(10, 0.2)])
    decision = LLMStopper(backend, max_new_tokens=32).decide(running, best)
    assert isinstance(decision.stop, bool) and decision.reason


def test_llm_proposer_and_stopper_over_http_with_an_image(server: CannedServer):  # noqa: F811
    """An OpenAI-compatible endpoint end to end: the curve PNG travels as an image_url part, a garbled
    reply is retried in the same chat, and the stopper's decision comes back."""
    args = {"backend": "openai", "model": "canned", "base_url": server.base_url, "api_key_env": "LLM_TEST_KEY",
            "max_retries": "0", "images": "true", "min_steps": "2"}
    answer = {"diagnosis": "plateau", "changes": {"lr": 0.0004}, "checkpoint": 15, "steps": 12}
    server.script = [(200, completion("Let me see... raise the lr")), (200, completion(json.dumps(answer))),
                     (200, completion("REASON: flat and far behind.\nDECISION: STOP"))]
    p = make_proposer("llm", args).propose(make_ctx())
    assert (p.source, p.parse_failures, p.config.lr, p.resume_step, p.steps) == ("llm", 1, 0.0004, 15, 12)
    first, second = (r["body"]["messages"] for r in server.requests[:2])
    parts = first[1]["content"]
    assert parts[0]["type"] == "text" and parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert len(second) == 4 and "could not be read" in second[3]["content"]
    best = make_result(make_trace(20), [(10, 0.4), (20, 0.5)])
    running = PhaseProgress(PhaseSpec(None, 0, mid_config(), 20), make_trace(6), [(4, 0.1), (6, 0.1)])
    decision = make_stopper("llm", args).decide(running, best)
    assert decision.stop and decision.reason == "flat and far behind."
