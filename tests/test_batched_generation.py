"""Batched generation: a row's reply does not depend on its batch, seeds reproduce, rows stop on their own."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_lm import tiny_lm

from agents.llm.backend import generate_batch
from agents.llm.hf import TransformersBackend
from agents.llm.sampling import buckets

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
