"""A tiny randomly initialised chat LM built locally (no model hub), for training and rollout tests.

``from tiny_lm import tiny_lm, save_tiny_lm`` (the tests folder is on ``sys.path``, as for
``conftest``). The tokenizer is a byte-level BPE trained in milliseconds on a few
sentences, so any text round-trips; it carries a ChatML chat template with
``<|im_end|>`` as eos and ``<|endoftext|>`` as pad, like SmolLM2's. The model is a
2-layer Llama with hidden size 32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_CORPUS = [
    'Propose a configuration: {"name": "exec_config", "arguments": {"lr": 0.001, "bs": 64}}',
    "The learning rate and the batch size of a small language model; budget left: 3 trials.",
    "Final smoothed training loss 3.4521. Think step by step about the results so far.",
]


def tiny_tokenizer() -> Any:
    """A ChatML fast tokenizer (byte-level BPE, ~300 tokens) trained on a few local sentences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None,
        unk_token=None, additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def tiny_lm(seed: int = 0, max_positions: int = 8192) -> tuple[Any, Any]:
    """``(model, tokenizer)``: a randomly initialised 2-layer Llama (fp32, eval mode) and its tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=max_positions,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def save_tiny_lm(directory: str | Path, seed: int = 0) -> Path:
    """Write the tiny LM as a Hugging Face checkpoint (safetensors, tokenizer, chat template)."""
    model, tokenizer = tiny_lm(seed)
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
