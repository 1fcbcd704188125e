"""The heuristic and LLM proposers (lab/zero/proposer.py, answers.py): hand-built traces, a scripted backend."""

from __future__ import annotations

import base64
import contextlib
import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zero_fixtures import ScriptedBackend, make_ctx, make_result, make_trace, mid_config

from gymnasium_llmconfig.errors import BackendConnectionError
from gymnasium_llmconfig.lab.zero import space
from gymnasium_llmconfig.lab.zero.answers import AnswerError, drop_trailing_commas, extract_json_object
from gymnasium_llmconfig.lab.zero.proposer import PERTURB_FACTORS, HeuristicProposer, LLMProposer, default_checkpoint

VALS = [(5, 0.3), (10, 0.33), (15, 0.36), (20, 0.38)]


def _propose(trace, validations=VALS, **ctx_kwargs):
    return HeuristicProposer().propose(make_ctx(make_result(trace, validations), **ctx_kwargs))


def _moved(proposal, **directions):
    """Exactly these fields changed, each up (+1) or down (-1) by one of the factors (integers: rounded)."""
    assert set(proposal.changes) == set(directions), proposal.changes
    for name, sign in directions.items():
        old, new = proposal.changes[name]
        ratio = new / old
        if isinstance(old, int):
            assert (new > old) == (sign > 0), (name, old, new)
        else:
            assert any(ratio == pytest.approx(f ** sign) for f in PERTURB_FACTORS), (name, ratio)


# ---- heuristic rules, one hand-built trace each ----

def test_kl_spike_raises_kl_and_lowers_lr():
    p = _propose(make_trace(6, kl=[0.0, 0.01, 0.012, 0.011, 0.2, 0.05]), [(3, 0.3), (6, 0.2)], checkpoints=[3, 6])
    _moved(p, kl_coef=1, lr=-1)
    assert "KL spike at step 5" in p.diagnosis
    assert p.resume_step == 3  # the best-validation step, before the spike


def test_reward_collapse_lowers_lr_and_heats_sampling():
    p = _propose(make_trace(9, reward_mean=[0.2, 0.4, 0.6, 0.6, 0.6, 0.3, 0.1, 0.1, 0.1]))
    _moved(p, lr=-1, temperature=1)
    assert p.diagnosis.startswith("reward collapse")


def test_entropy_collapse_without_gains():
    entropy = [1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.3, 0.3, 0.3]
    p = _propose(make_trace(9, reward_mean=[0.3] * 9, entropy=entropy))
    assert p.diagnosis.startswith("entropy collapse")
    _moved(p, lr=-1, temperature=1)


def test_truncation_lengthens_responses():
    p = _propose(make_trace(9, truncation_ratio=[0, 0, 0, 0, 0, 0, 0.2, 0.3, 0.4]))
    _moved(p, max_response_length=1)


def test_noisy_rewards_sample_more_then_batch_more_at_the_top():
    noisy = make_trace(9, reward_mean=[0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.0, 0.6, 0.0])
    picked = Counter()
    for seed in range(20):
        p = _propose(noisy, seed=seed)
        assert p.diagnosis.startswith("noisy rewards")
        (field,) = p.changes
        _moved(p, **{field: 1})
        picked[field] += 1
    assert picked["rollouts"] > 0 and picked["batch_size"] > 0
    top = mid_config(rollouts=space.RANGES["rollouts"][1])
    assert all(set(_propose(noisy, config=top, seed=s).changes) == {"batch_size"} for s in range(5))


def test_plateau_with_small_gradients_raises_lr():
    p = _propose(make_trace(20, grad_norm=lambda i: 0.01), [(5, 0.3), (10, 0.35), (15, 0.355), (20, 0.34)])
    _moved(p, lr=1)
    assert p.resume_step == 15


def test_diverged_trace_and_debug_failures():
    trace = make_trace(5)
    trace[-1]["status"] = "diverged"
    p = _propose(trace, [(5, 0.1)])
    _moved(p, lr=-1, grad_clip=-1, kl_coef=1)
    failed = make_result(make_trace(3), [], status="failed", failure="loss diverged to NaN at step 3", checkpoints=[])
    p = HeuristicProposer().propose(make_ctx(failed, mode="debug"))
    _moved(p, lr=-1, grad_clip=-1, kl_coef=1)
    assert p.resume_step is None
    odd = make_result([], [], status="failed", failure="worker crashed", checkpoints=[])
    _moved(HeuristicProposer().propose(make_ctx(odd, mode="debug")), lr=-1)


def test_memory_failure_shrinks_the_largest_memory_factor():
    cfg = mid_config(batch_size=space.RANGES["batch_size"][1])
    failed = make_result([], [], status="failed", failure="out of memory: 9000 units over the budget", checkpoints=[])
    p = HeuristicProposer().propose(make_ctx(failed, mode="debug", config=cfg))
    _moved(p, batch_size=-1)
    assert space.memory_units(p.config) < space.memory_units(cfg)


def test_healthy_run_perturbs_one_to_three_fields():
    for seed in range(30):
        p = _propose(make_trace(20), seed=seed)
        assert 1 <= len(p.changes) <= 3 and "perturb" in p.diagnosis
        assert p.resume_step == 20 and p.steps == 20 and p.source == "heuristic"


def test_heuristic_is_deterministic_given_the_seed():
    a, b = _propose(make_trace(20), seed=7), _propose(make_trace(20), seed=7)
    assert a == b
    assert len({json.dumps(_propose(make_trace(20), seed=s).changes, sort_keys=True) for s in range(10)}) > 1
    # a rule that fires still varies its step, so two children of one node differ
    truncated = make_trace(9, truncation_ratio=[0.5] * 9)
    assert len({_propose(truncated, seed=s).config for s in range(10)}) > 1


def test_capacity_moves_both_ways():
    """The heuristic must not hard-code 'capacity only grows' (issue 15; paper §4.3.2's finding)."""
    moves = Counter()
    for seed in range(300):
        p = _propose(make_trace(20), seed=seed)
        for name in space.CAPACITY:
            if name in p.changes:
                old, new = p.changes[name]
                moves[name, "up" if new > old else "down"] += 1
    for name in space.CAPACITY:
        up, down = moves[name, "up"], moves[name, "down"]
        assert up >= 15 and down >= 15 and 0.5 < up / down < 2, moves


def test_scratch_mode_withholds_checkpoints_and_still_changes_the_config():
    p = HeuristicProposer().propose(make_ctx(mode="scratch", seed=1))
    assert p.resume_step is None and p.changes


def test_default_checkpoint_rule():
    ctx = make_ctx(make_result(make_trace(20), [(5, 0.3), (12, 0.5), (20, 0.4)], checkpoints=[5, 10, 15, 20]))
    assert default_checkpoint(ctx) == 10  # nearest to the best step 12
    ctx = make_ctx(make_result(make_trace(20), [], checkpoints=[5, 10]))
    assert default_checkpoint(ctx) == 10  # no validation: the latest
    failed = make_result(make_trace(4, start=10), [(12, 0.9)], status="failed", failure="diverged")
    assert default_checkpoint(make_ctx(failed, mode="debug", checkpoints=[5, 10, 15])) == 10  # where it started
    unlogged = make_result([], [], status="failed", failure="memory: too big")
    assert default_checkpoint(make_ctx(unlogged, mode="debug", checkpoints=[5, 10, 15])) == 15
    assert default_checkpoint(make_ctx(unlogged, mode="debug", checkpoints=[])) is None


def test_clamped_fields_are_recorded_by_the_heuristic():
    top = mid_config(max_response_length=space.RANGES["max_response_length"][1])
    p = _propose(make_trace(9, truncation_ratio=[0.5] * 9), config=top)
    assert p.clamped == ["max_response_length"] and "max_response_length" not in p.changes


# ---- the answer extractor ----

GOOD = {"diagnosis": "plateau", "changes": {"lr": 0.0005}, "checkpoint": 15, "steps": 10}


def test_extractor_handles_fences_prose_think_and_trailing_commas():
    fenced = "Let me think.\n```json\n" + json.dumps(GOOD, indent=2) + "\n```\nThat is my answer."
    assert extract_json_object(fenced) == GOOD
    thought = '<think>maybe {"changes": {"lr": 1}}</think>\nAnswer: ' + json.dumps(GOOD)
    assert extract_json_object(thought) == GOOD
    assert extract_json_object("<think>I'd say " + json.dumps(GOOD) + "</think> (cut off)") == GOOD
    trailing = '{"diagnosis": "x", "changes": {"norm_adv": false, "lr": 0.001,}, "steps": 5,}'
    assert extract_json_object(trailing) == {"diagnosis": "x", "changes": {"norm_adv": False, "lr": 0.001},
                                             "steps": 5}
    assert drop_trailing_commas('{"a": "x,}", "b": [1,2,],}') == '{"a": "x,}", "b": [1,2]}'
    for bad in ("no json here", '{"foo": 1}', "{broken", ""):
        with pytest.raises(AnswerError):
            extract_json_object(bad)


_TEXT = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=200)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_extractor_never_crashes(text):
    with contextlib.suppress(AnswerError):
        assert isinstance(extract_json_object(text), dict)


@settings(max_examples=150, deadline=None)
@given(_TEXT, _TEXT, st.dictionaries(st.sampled_from(["lr", "rollouts", "foo"]),
                                     st.one_of(st.floats(-1e3, 1e3), st.integers(-100, 100), st.text(max_size=8)),
                                     max_size=3),
       st.one_of(st.integers(0, 100), st.just("scratch")))
def test_extractor_finds_an_embedded_answer(prefix, suffix, changes, checkpoint):
    answer = {"diagnosis": "d", "changes": changes, "checkpoint": checkpoint, "steps": 7}
    assert extract_json_object(prefix + json.dumps(answer) + suffix) == answer


# ---- the LLM proposer over a scripted backend ----

def _llm(replies, **kwargs):
    backend = ScriptedBackend(replies)
    return LLMProposer(backend, **kwargs), backend


def test_llm_good_json_becomes_a_clamped_proposal():
    proposer, backend = _llm([json.dumps(GOOD)])
    ctx = make_ctx()
    p = proposer.propose(ctx)
    assert p.source == "llm" and p.parse_failures == 0
    assert p.config.lr == 0.0005 and p.changes == {"lr": [ctx.parent_config.lr, 0.0005]}
    assert (p.resume_step, p.steps, p.diagnosis, p.clamped) == (15, 10, "plateau", [])
    prompt = backend.chats[0][1]["content"]
    assert "Previous run's config" in prompt and "truncation_ratio" in prompt and "5, 10, 15, 20" in prompt


def test_llm_out_of_range_strings_unknown_fields_and_snapped_checkpoint():
    reply = ('Here you go: {"diagnosis": "too slow", "changes": {"lr": "10", "rollouts": "3", "warmup": 5, '
             '"norm_adv": "false"}, "checkpoint": "12", "steps": 1000}')
    p = _llm([reply])[0].propose(make_ctx())
    assert p.config.lr == space.RANGES["lr"][1] and "lr" in p.clamped
    assert p.config.rollouts == 3 and p.config.norm_adv is False
    assert "steps" in p.clamped and p.steps == 3 * 20
    assert p.resume_step == 10
    assert "ignored unknown fields: warmup" in p.diagnosis and "snapped to 10" in p.diagnosis


def test_llm_checkpoint_in_scratch_mode_is_ignored():
    p = _llm([json.dumps(GOOD)])[0].propose(make_ctx(mode="scratch"))
    assert p.resume_step is None and "starts from scratch" in p.diagnosis
    p = _llm([json.dumps({**GOOD, "checkpoint": "scratch"})])[0].propose(make_ctx())
    assert p.resume_step is None


def test_llm_retries_with_the_parse_error_then_succeeds():
    proposer, backend = _llm(["I would raise the lr.", json.dumps(GOOD)])
    p = proposer.propose(make_ctx())
    assert p.source == "llm" and p.parse_failures == 1
    retry = backend.chats[1][-1]["content"]
    assert backend.chats[1][-2] == {"role": "assistant", "content": "I would raise the lr."}
    assert "could not be read" in retry and "no JSON object found" in retry


def test_llm_bad_value_is_a_parse_failure():
    proposer, backend = _llm(['{"changes": {"lr": "fast"}}', json.dumps(GOOD)])
    assert proposer.propose(make_ctx()).parse_failures == 1
    assert "changes.lr must be a number" in backend.chats[1][-1]["content"]


def test_llm_garbage_thrice_falls_back_to_the_heuristic():
    proposer, backend = _llm(["nope", "still nope", "{oops"])
    ctx = make_ctx(seed=5)
    p = proposer.propose(ctx)
    h = HeuristicProposer().propose(ctx)
    assert p.source == "fallback" and p.parse_failures == 3 and len(backend.chats) == 3
    assert (p.config, p.resume_step, p.changes) == (h.config, h.resume_step, h.changes)
    assert "heuristic fallback" in p.diagnosis


def test_llm_endpoint_down_passes_through():
    proposer, _ = _llm([BackendConnectionError("could not reach the chat endpoint http://x/v1")])
    with pytest.raises(BackendConnectionError, match="could not reach"):
        proposer.propose(make_ctx())


def test_llm_debug_prompt_names_the_failure():
    failed = make_result(make_trace(3), [], status="failed", failure="out of memory: 9000 > 4096 units",
                         checkpoints=[])
    proposer, backend = _llm([json.dumps({"diagnosis": "oom", "changes": {"batch_size": 8}})])
    p = proposer.propose(make_ctx(failed, mode="debug"))
    prompt = backend.chats[0][1]["content"]
    assert "out of memory: 9000 > 4096 units" in prompt and "Config that failed" in prompt
    assert p.config.batch_size == 8 and p.resume_step is None


def test_llm_images_attach_a_png_of_the_curves():
    proposer, backend = _llm([json.dumps(GOOD)], images=True)
    proposer.propose(make_ctx())
    content = backend.chats[0][1]["content"]
    assert content[0]["type"] == "text" and content[1]["type"] == "image_url"
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_memory_shrinks_the_factor_with_most_room_until_the_budget_fits() -> None:
    from gymnasium_llmconfig.lab.zero.proposer import fit_memory

    raw = {"batch_size": 16, "rollouts": 4, "max_response_length": 6}
    # room over the minima (4, 2, 2): batch 4, rollouts 2, length 3 -> batch to 100 // (4 x 6) = 4: 96 <= 100
    assert fit_memory(raw, 100) == {"batch_size": 4, "rollouts": 4, "max_response_length": 6}
    # budget 30: batch 4 (96), then length (room 3) to max(2, 30 // 16 = 1) = 2 (32), then rollouts to 30 // 8 = 3
    assert fit_memory(raw, 30) == {"batch_size": 4, "rollouts": 3, "max_response_length": 2}
    # below what the minima allow: everything at its minimum, the runner will say so again
    assert fit_memory(raw, 1) == {"batch_size": 4, "rollouts": 2, "max_response_length": 2}
    assert raw == {"batch_size": 16, "rollouts": 4, "max_response_length": 6}  # the input is not changed
