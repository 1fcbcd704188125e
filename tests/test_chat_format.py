"""Chat rendering: an episode built turn by turn has exactly the ids the template renders for the whole chat."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from conftest import require_smollm2
from tiny_lm import tiny_lm, tiny_tokenizer

from agents.llm.chat_format import TurnFormat, first_messages, first_prompt_ids, prompt_ids, render
from gymnasium_llmconfig.errors import BackendUnavailable

REPLIES = [
    'Small lr first. {"name": "exec_config", "arguments": {"lr": 0.001, "bs": 64}}',
    "I am not sure what to do here.",
    '```json\n{"lr": 0.002, "bs": 128}\n```',
]
FEEDBACK = ["Loss 3.41. Budget left: 2.", "No configuration found in your reply. Budget left: 1.", "Loss 3.39."]


def _incremental(tokenizer, emit_end_of_turn: bool) -> tuple[list[int], list[int], list[dict]]:
    fmt = TurnFormat(tokenizer, "tiny")
    messages = first_messages("Tune the learning rate.")
    ids = first_prompt_ids(tokenizer, "Tune the learning rate.")
    mask = [0] * len(ids)
    for reply, feedback in zip(REPLIES, FEEDBACK, strict=True):
        generated = tokenizer(reply, add_special_tokens=False)["input_ids"]
        if emit_end_of_turn:
            generated = [*generated, tokenizer.eos_token_id]
        kept, following = fmt.continuation_ids(generated, feedback)
        ids += kept + following
        mask += [1] * len(kept) + [0] * len(following)
        assert fmt.reply_text(kept) == reply
        messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": feedback}]
    return ids, mask, messages


@pytest.mark.parametrize("emit_end_of_turn", [True, False])
def test_incremental_ids_equal_the_whole_rendering(emit_end_of_turn: bool) -> None:
    tokenizer = tiny_tokenizer()
    ids, mask, messages = _incremental(tokenizer, emit_end_of_turn)
    assert ids == prompt_ids(tokenizer, messages)
    # the mask is 1 exactly on the replies' tokens (plus the end-of-turn the model emitted)
    generated = [tok for tok, m in zip(ids, mask, strict=True) if m]
    expected = []
    for reply in REPLIES:
        expected += tokenizer(reply, add_special_tokens=False)["input_ids"]
        if emit_end_of_turn:
            expected.append(tokenizer.eos_token_id)
    assert generated == expected


def test_turn_pieces_come_from_the_template() -> None:
    fmt = TurnFormat(tiny_tokenizer())
    assert fmt.end_of_turn == "<|im_end|>\n"
    assert fmt.stop_ids == [fmt.tokenizer.convert_tokens_to_ids("<|im_end|>")]
    text = render(fmt.tokenizer, first_messages("obs", "sys"), add_generation_prompt=True)
    assert text == "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nobs<|im_end|>\n<|im_start|>assistant\n"


def test_a_tokenizer_without_chat_template_is_refused_with_the_fix() -> None:
    _, tokenizer = tiny_lm()
    tokenizer.chat_template = None
    with pytest.raises(BackendUnavailable, match=r"no chat template.*Fix"):
        TurnFormat(tokenizer, "my-base-model")


@pytest.mark.slow
def test_smollm2_incremental_ids_equal_the_whole_rendering() -> None:
    path = require_smollm2()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)
    for emit in (True, False):
        ids, _, messages = _incremental(tokenizer, emit)
        assert ids == prompt_ids(tokenizer, messages)
