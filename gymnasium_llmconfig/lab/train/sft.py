"""Policy distillation (paper 000, §4.2.2, Step 2b): multi-turn SFT on simulated trajectories.

Each trajectory is rendered by :mod:`agents.llm.chat_format`, the one rendering that
``llm-prompt`` and the rollout engine use, so the model is trained on exactly the
tokens it sees when it plays. The loss is on the assistant's tokens only (its
replies and the end-of-turn token that stops them); the system prompt, the env's
task prompt and its feedback are masked, as in the paper.

The trainer is TRL's ``SFTTrainer`` on a pre-tokenized dataset whose
``assistant_masks`` column we compute here. TRL's own ``assistant_only_loss``
needs ``{% generation %}`` markers in the chat template, which SmolLM2's lacks;
patching a model's template would make the saved checkpoint render chats
differently from the model it came from. TRL turns the mask into labels (-100
elsewhere) and does the rest: batching, gradient accumulation, LoRA through
peft, checkpoints and resuming after a kill.

The output directory is a Hugging Face checkpoint (safetensors weights, LoRA
merged in, tokenizer with its chat template) that ``llm-prompt`` loads with
``--agent-arg model=DIR``. Its ``config.json`` is moved in last: a directory
without it is unfinished and never loaded as a model.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents.llm.chat_format import TurnFormat, encode, first_prompt_ids
from agents.llm.models import load_model
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.train.trajectories import check_trajectories
from gymnasium_llmconfig.storage import atomic_write, read_jsonl

CHECKPOINTS = ".checkpoints"
RECIPE = "sft.meta.json"


def encode_chat(tokenizer: Any, turns: TurnFormat, messages: Sequence[dict[str, str]]) -> tuple[list[int], list[int]]:
    """``(input_ids, assistant_mask)`` of a trajectory (system, task, then reply/feedback pairs).

    The ids are built turn by turn exactly as the rollout engine builds them for a played
    episode; the mask is 1 on each reply's tokens and its end-of-turn token, 0 elsewhere.
    """
    if len(messages) < 3 or messages[0]["role"] != "system" or messages[1]["role"] != "user":
        raise InvalidArgument("a trajectory must start with a system and a user message, then an assistant reply")
    ids = first_prompt_ids(tokenizer, messages[1]["content"], messages[0]["content"])
    mask = [0] * len(ids)
    rest = messages[2:]
    for k in range(0, len(rest), 2):
        reply = encode(tokenizer, rest[k]["content"]) + turns.end_of_turn_ids[:1]
        feedback = rest[k + 1]["content"] if k + 1 < len(rest) else ""
        kept, following = turns.continuation_ids(reply, feedback)
        ids += kept
        mask += [1] * len(kept)
        if k + 1 < len(rest):
            ids += following
            mask += [0] * len(following)
    return ids, mask


@dataclass(frozen=True)
class SFTRecipe:
    """What ``llmconfig train sft`` was asked for; stored beside the checkpoint."""

    trajectories: tuple[str, ...]
    suite: str
    model: str
    budgets: tuple[int, ...] | None = None
    max_trajectories: int | None = None
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    epochs: float = 2.0
    learning_rate: float = 1e-4
    batch_size: int = 1
    grad_accum: int = 8
    max_length: int = 4096
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    save_steps: int = 10


def select(records: list[dict[str, Any]], budgets: Sequence[int] | None, limit: int | None,
           seed: int) -> list[dict[str, Any]]:
    """The trajectories to train on: those at ``budgets``, then at most ``limit`` of them, spread
    over envs and budgets (a seeded shuffle, taken round-robin by env)."""
    chosen = [r for r in records if budgets is None or r["budget"] in budgets]
    if limit is None or limit >= len(chosen):
        return chosen
    rng = random.Random(seed)
    by_env: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(chosen, key=lambda r: (r["env_id"], r["budget"], r["seed"])):
        by_env.setdefault(record["env_id"], []).append(record)
    for group in by_env.values():
        rng.shuffle(group)
    order = [g[i] for i in range(max(map(len, by_env.values()))) for g in by_env.values() if i < len(g)]
    return order[:limit]


def _oom_message(exc: BaseException, recipe: SFTRecipe) -> str:
    return (f"out of memory during SFT ({exc}). Fix: a smaller --max-length (now {recipe.max_length}) or "
            f"--batch-size (now {recipe.batch_size}, raise --grad-accum to keep the effective batch), or --lora.")


def train_sft(recipe: SFTRecipe, out: Path, progress: bool = True) -> Path:
    """Fine-tune ``recipe.model`` on the trajectories and write the checkpoint to ``out``."""
    out = Path(out)
    if (out / "config.json").is_file():
        return out  # finished before: a checkpoint is complete once config.json is in place
    records: list[dict[str, Any]] = []
    for path in recipe.trajectories:
        check_trajectories(Path(path), recipe.suite)
        records += read_jsonl(path)
    records = select(records, recipe.budgets, recipe.max_trajectories, recipe.seed)
    if not records:
        raise InvalidArgument(f"no trajectories left to train on (budgets {recipe.budgets}); check --budgets")
    import torch

    if recipe.threads:
        torch.set_num_threads(int(recipe.threads))
    loaded = load_model(recipe.model, device=recipe.device)
    tokenizer, model = loaded.tokenizer, loaded.model
    turns = TurnFormat(tokenizer, loaded.source.label)
    rows = [dict(zip(("input_ids", "assistant_masks"), encode_chat(tokenizer, turns, r["messages"]), strict=True))
            for r in records]
    rows = [r for r in rows if any(r["assistant_masks"][: recipe.max_length])]
    if not rows:
        raise InvalidArgument(f"every trajectory's first reply lies beyond --max-length {recipe.max_length} tokens, "
                              "so nothing would be trained; raise --max-length")
    tokens = sum(min(len(r["input_ids"]), recipe.max_length) for r in rows)
    start = time.perf_counter()
    try:
        trainer = _trainer(recipe, model, tokenizer, rows, out, loaded.device, progress)
        resume = any((out / CHECKPOINTS).glob("checkpoint-*"))
        trainer.train(resume_from_checkpoint=True if resume else None)
    except torch.OutOfMemoryError as exc:
        raise InvalidArgument(_oom_message(exc, recipe)) from None
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
            raise InvalidArgument(_oom_message(exc, recipe)) from None
        raise
    seconds = time.perf_counter() - start
    steps = trainer.state.global_step
    history = [h for h in trainer.state.log_history if "loss" in h]
    final = trainer.model.merge_and_unload() if recipe.lora else trainer.model
    losses = [h["loss"] for h in history] or [None]
    stats = {"trajectories": len(rows), "trajectories_beyond_max_length": len(records) - len(rows),
             "tokens_per_epoch": tokens,
             "assistant_tokens": sum(sum(r["assistant_masks"]) for r in rows), "steps": steps,
             "train_seconds_this_run": seconds,
             "tokens_per_second": tokens * recipe.epochs / seconds if seconds else None,
             "loss_first": losses[0], "loss_last": losses[-1],
             "device": loaded.device, "dtype": str(next(final.parameters()).dtype)}
    _publish(final, tokenizer, out, {"recipe": asdict(recipe), "stats": stats})
    return out


def _trainer(recipe: SFTRecipe, model: Any, tokenizer: Any, rows: list[dict[str, list[int]]], out: Path, device: str,
             progress: bool) -> Any:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    peft_config = None
    if recipe.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=0.0,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    cuda = device.startswith("cuda")
    args = SFTConfig(
        output_dir=str(out / CHECKPOINTS), num_train_epochs=recipe.epochs, learning_rate=recipe.learning_rate,
        per_device_train_batch_size=recipe.batch_size, gradient_accumulation_steps=recipe.grad_accum,
        max_length=recipe.max_length, lr_scheduler_type="cosine", warmup_steps=0.05, seed=recipe.seed,
        logging_steps=1, save_strategy="steps", save_steps=recipe.save_steps, save_total_limit=1, report_to="none",
        bf16=cuda, use_cpu=not cuda, dataloader_num_workers=0, disable_tqdm=True,
    )
    import datasets
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=peft_config, callbacks=[_rich_progress()] if progress else [])
    trainer.remove_callback(PrinterCallback)  # the rich bar shows the loss; no log dicts on stdout
    return trainer


def _publish(model: Any, tokenizer: Any, out: Path, meta: dict[str, Any]) -> None:
    """Save to a temp dir beside ``out``, move files in with ``config.json`` last, drop the checkpoints."""
    tmp = out / ".final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    atomic_write(tmp / RECIPE, lambda f: json.dump(meta, f, indent=1))
    names = sorted(p.name for p in tmp.iterdir() if p.name != "config.json")
    for name in [*names, "config.json"]:
        os.replace(tmp / name, out / name)
    tmp.rmdir()
    shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)


def _rich_progress() -> Any:
    """A trainer callback drawing a rich progress bar over optimizer steps with the latest loss
    (TRL's tqdm bar is turned off)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        def __init__(self) -> None:
            self.bar = Progress(TextColumn("[bold]SFT[/] loss {task.fields[loss]}"), BarColumn(),
                                MofNCompleteColumn(), TextColumn("ETA"), TimeRemainingColumn())
            self.task: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.start()
            self.task = self.bar.add_task("sft", total=state.max_steps, completed=state.global_step, loss="-")

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                self.bar.update(self.task, loss=f"{logs['loss']:.4f}")

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.update(self.task, completed=state.global_step)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.stop()

    return RichProgress()
