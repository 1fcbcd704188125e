"""``prompts.jsonl``: a suite's training samples x budgets x seeds, one OpenRLHF prompt per line.

Training samples are the suite's curated training pairs (paper 000, §4.2.1: each medium env with
all low envs as demonstrations), each augmented with several budgets (§4.2.2 "different budget
settings to simulate budget-constrained tuning"). A line is ``{"prompt": the env's first
observation, "label": the episode's JSON label}``: OpenRLHF reads them with ``--data.input_key
prompt --data.label_key label`` and no chat template; the adapter rebuilds the env from the label,
checks that it still opens with this prompt, and renders the chat itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from gymnasium_llmconfig import data
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.train.openrlhf.episodes import EpisodeLabel
from gymnasium_llmconfig.registry import load_registry
from gymnasium_llmconfig.storage import atomic_write


def training_labels(suite: str, budgets: Sequence[int], seeds: Sequence[int], top_k: int = 5) -> list[EpisodeLabel]:
    """One label per (training pair, budget, seed), after checking that the data they read is present."""
    resolved = resolve_suite(suite)
    if not resolved.train_pairs:
        raise InvalidArgument(f"suite {suite!r} has no training pairs (no training env with a lower fidelity to "
                              "show as demonstrations); see `llmconfig suites`")
    env_ids = sorted({e for p in resolved.train_pairs for e in (p.target, *p.demos)})
    data.require(load_registry().sources(env_ids), needed_by=f"Training on the {suite!r} suite")
    return [EpisodeLabel(pair.target, budget, seed, {"demos": list(pair.demos), "top_k": top_k})
            for pair in resolved.train_pairs for budget in budgets for seed in seeds]


def first_observation(label: EpisodeLabel) -> str:
    """The env's first observation for ``label``: the task prompt the model is shown."""
    env = label.make_env()
    try:
        observation, _ = env.reset(seed=label.seed)
    finally:
        env.close()
    return observation


def prompt_rows(labels: Sequence[EpisodeLabel]) -> list[dict[str, str]]:
    """One ``{"prompt", "label"}`` row per label."""
    return [{"prompt": first_observation(label), "label": label.to_json()} for label in labels]


def write_prompts(path: Path, rows: Sequence[dict[str, str]]) -> None:
    """Write ``prompts.jsonl`` atomically."""
    atomic_write(path, lambda handle: handle.writelines(json.dumps(row) + "\n" for row in rows))


def longest_prompt_tokens(model: str, prompts: Sequence[str]) -> int | None:
    """Tokens of the longest first prompt as the adapter renders it, with ``model``'s tokenizer if it is on
    this machine (a local path or the Hugging Face cache; nothing is downloaded); ``None`` otherwise."""
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
    except (ImportError, OSError, ValueError):
        return None
    if not getattr(tokenizer, "chat_template", None):
        return None
    from agents.llm.chat_format import encode, first_messages, render

    return max(len(encode(tokenizer, render(tokenizer, first_messages(p), add_generation_prompt=True)))
               for p in set(prompts))
