"""Batched generation: a row's reply does not depend on its batch, seeds reproduce, rows stop on their own."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_lm import tiny_lm

import agents.llm.sampling as sampling
from agents.llm.backend import generate_batch
from agents.llm.hf import TransformersBackend
from agents.llm.sampling import SharedPrefix, buckets, shared_prefixes

CHATS = [
    [{"role": "user", "content": "short"}],
    [{"role": "user", "content": "a much longer prompt about learning rates and batch sizes " * 4}],
    [{"role": "system", "content": "sys"}, {"role": "user", "content": "medium length prompt here"}],
]


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    model, tokenizer = tiny_lm()
    return TransformersBackend.from_loaded(model, tokenizer, name="tiny")


def test_greedy_rows_equal_one_at_a_time(backend: TransformersBackend) -> None:
    batched = backend.generate_batch(CHATS, max_new_tokens=12, temperature=0.0)
    assert batched == [backend.generate(chat, max_new_tokens=12, temperature=0.0) for chat in CHATS]


def test_seeded_sampling_reproduces_and_seeds_differ(backend: TransformersBackend) -> None:
    seeds = [1, 2, 3]
    first = backend.generate_batch(CHATS, 16, 1.0, seeds)
    assert first == backend.generate_batch(CHATS, 16, 1.0, seeds)
    assert backend.generate_batch([CHATS[0]] * 3, 16, 1.0, [7, 8, 9]) != [first[0]] * 3


def test_rows_stop_at_the_stop_token_or_their_limit(backend: TransformersBackend) -> None:
    from agents.llm.chat_format import prompt_ids

    prompts = [prompt_ids(backend.tokenizer, chat) for chat in CHATS]
    rows = backend.generate_ids(prompts, 40, 1.0, [0, 1, 2])
    stops = set(backend.turns.stop_ids)
    for row in rows:
        assert 0 < len(row) <= 40
        assert not stops & set(row[:-1])  # nothing generated after a stop
        assert len(row) == 40 or row[-1] in stops


def test_a_prompt_that_fills_the_context_gets_an_empty_reply_with_one_warning() -> None:
    model, tokenizer = tiny_lm()
    backend = TransformersBackend.from_loaded(model, tokenizer, name="tiny", max_context_tokens=40)
    with pytest.warns(UserWarning, match="do not fit"):
        replies = backend.generate_batch([CHATS[1], CHATS[0]], 4, 0.0)
    assert replies[0] == "" and backend.too_long == 1
    assert 0 < len(backend.generate_ids([[1, 2, 3]], 100, 0.0, [None])[0]) <= 37  # cut at the context end


def test_buckets_sort_by_length_and_respect_limits() -> None:
    assert buckets([5, 1, 3, 9], max_rows=2, max_batch_tokens=100) == [[1, 2], [0, 3]]
    assert buckets([50, 60, 10], max_rows=8, max_batch_tokens=100) == [[2, 0], [1]]


def test_backends_without_batching_fall_back_to_one_chat_at_a_time() -> None:
    class Echo:
        name = "echo"

        def generate(self, messages, max_new_tokens, temperature, seed):
            return f"{messages[-1]['content']}:{seed}"

    assert generate_batch(Echo(), CHATS[:2], 8, 0.0, [4, 5]) == ["short:4", f"{CHATS[1][0]['content']}:5"]


def test_shared_prefixes_by_hand() -> None:
    p0, p1, p2, p3 = [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 7], [1, 2, 3, 9], [8, 8, 8]
    prompts = [p0, p1, p2, p3, list(p0)]
    # sorted: p0 = p4 (share 6), p1 (shares 5 with p4), p2 (shares 3 with p1), p3 (shares nothing);
    # p0 and p4 prefill once, cut one short of their length 6; p1 and p2 borrow its beginning
    assert shared_prefixes(prompts, [True] * 5, 3) == [SharedPrefix(0, 5, {0: 5, 1: 5, 2: 3, 4: 5})]
    assert shared_prefixes(prompts, [True] * 5, 4) == [SharedPrefix(0, 5, {0: 5, 1: 5, 4: 5})]
    # a row that already has a cache (not eligible) takes no part
    assert shared_prefixes(prompts, [True, True, True, True, False], 3) == [SharedPrefix(0, 5, {0: 5, 1: 5, 2: 3})]
    assert shared_prefixes([p3, [8, 8, 9]], [True, True], 3) == []  # 2 tokens in common: below min_shared


PROMPTS = st.lists(st.lists(st.integers(0, 2), min_size=1, max_size=8), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(PROMPTS, st.integers(1, 4), st.data())
def test_every_shared_prefix_is_a_true_beginning_of_its_rows(prompts, min_shared, data) -> None:
    eligible = data.draw(st.lists(st.booleans(), min_size=len(prompts), max_size=len(prompts)))
    shares = shared_prefixes(prompts, eligible, min_shared)
    for share in shares:
        assert len(share.rows) > 1 and eligible[share.source]
        assert min_shared <= share.length < len(prompts[share.source])
        for row, length in share.rows.items():
            assert eligible[row] and sum(row in other.rows for other in shares) == 1
            assert min_shared <= length <= share.length and length < len(prompts[row])
            assert prompts[row][:length] == prompts[share.source][:length]


@settings(max_examples=200, deadline=None)
@given(PROMPTS, st.integers(1, 4))
def test_chat_prompts_share_the_longest_beginning_they_have_in_common(prompts, min_shared) -> None:
    prompts = [[*p, 9] for p in prompts]  # a common last token, as the assistant header: no prompt begins another
    lengths = {row: length for share in shared_prefixes(prompts, [True] * len(prompts), min_shared)
               for row, length in share.rows.items()}
    for row, mine in enumerate(prompts):
        most = max((min(sampling._common_length(mine, q), len(mine) - 1)
                    for k, q in enumerate(prompts) if k != row), default=0)
        assert lengths.get(row, 0) == (most if most >= min_shared else 0)


def test_rows_with_a_common_beginning_are_prefilled_once_and_reply_as_alone(backend, monkeypatch) -> None:
    from agents.llm.chat_format import prompt_ids

    base = [{"role": "system", "content": "sys " * 40}, {"role": "user", "content": "lr and batch size " * 20}]
    chats = [base, [*base[:1], {"role": "user", "content": base[1]["content"] + "budget 3"}], base]
    prompts = [prompt_ids(backend.tokenizer, chat) for chat in chats]
    prefilled: list[int] = []
    plain = sampling.prefill
    monkeypatch.setattr(sampling, "prefill", lambda model, ids: prefilled.append(len(ids)) or plain(model, ids))
    args = dict(max_new_tokens=[10] * 3, temperature=0.0, seeds=[None] * 3, stop_ids=backend.turns.stop_ids,
                pad_id=int(backend.tokenizer.pad_token_id))
    shared = sampling.sample(backend.model, prompts, min_shared=32, **args)
    assert prefilled == [len(prompts[0]) - 1]  # one forward pass for the three rows' common beginning
    alone = [sampling.sample(backend.model, [p], min_shared=0, **{**args, "max_new_tokens": [10], "seeds": [None]})[0]
             for p in prompts]
    assert shared == alone
