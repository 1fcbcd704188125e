"""Trainer checkpoints that survive a kill, and the exported Hugging Face checkpoint.

Resume state lives in ``OUT/train_state/step-NNNNNN/`` (trainable weights and the AdamW
moments as safetensors, the step and settings as JSON; never a pickle), written under a
temporary name and renamed when complete; ``OUT/train_state/latest.json`` (an atomic
write) names the newest complete one, so a half-written checkpoint is never trusted.
The policy itself is exported to ``OUT`` as a Hugging Face checkpoint (safetensors
weights, config, tokenizer with its chat template), which ``llm-prompt`` loads with
``model=OUT``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from gymnasium_llmconfig.storage import atomic_write


def _state_dir(out: Path) -> Path:
    return out / "train_state"


def latest_step(out: Path) -> int:
    """The step of the newest complete checkpoint (0: none)."""
    latest = _state_dir(out) / "latest.json"
    return int(json.loads(latest.read_text())["step"]) if latest.is_file() else 0


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}


def save_state(out: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               info: dict[str, Any]) -> None:
    """Write the resume state of ``step`` and point ``latest.json`` at it; older states are removed."""
    from safetensors.torch import save_file

    root = _state_dir(out)
    final = root / f"step-{step:06d}"
    partial = root / f".step-{step:06d}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_file(trainable_state(model), str(partial / "policy.safetensors"))
    names = {id(p): name for name, p in model.named_parameters()}
    moments: dict[str, torch.Tensor] = {}
    steps: dict[str, float] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p)
            if state:
                name = names[id(p)]
                moments[f"{name}::exp_avg"] = state["exp_avg"].detach().cpu().contiguous()
                moments[f"{name}::exp_avg_sq"] = state["exp_avg_sq"].detach().cpu().contiguous()
                steps[name] = float(state["step"])
    save_file(moments or {"empty": torch.zeros(1)}, str(partial / "optimizer.safetensors"))
    (partial / "state.json").write_text(json.dumps({"step": step, "adam_steps": steps, **info}, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    atomic_write(root / "latest.json", lambda f: json.dump({"step": step, "dir": final.name}, f))
    for old in root.glob("step-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)


def load_state(out: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore the newest complete checkpoint into ``model`` and ``optimizer``; returns its ``state.json``."""
    from safetensors.torch import load_file

    root = _state_dir(out)
    where = root / json.loads((root / "latest.json").read_text())["dir"]
    weights = load_file(str(where / "policy.safetensors"))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor)
    info = json.loads((where / "state.json").read_text())
    moments = load_file(str(where / "optimizer.safetensors"))
    for name, step in info["adam_steps"].items():
        device = params[name].device
        optimizer.state[params[name]] = {
            "step": torch.tensor(step), "exp_avg": moments[f"{name}::exp_avg"].to(device),
            "exp_avg_sq": moments[f"{name}::exp_avg_sq"].to(device),
        }
    return info


def export_policy(out: Path, model: torch.nn.Module, tokenizer: Any) -> None:
    """Write the policy (LoRA merged into the weights) and its tokenizer as a Hugging Face checkpoint in ``out``.

    Files are written to a scratch folder first and moved in one by one, ``config.json`` last,
    so ``out`` never holds a config that points at missing weights.
    """
    scratch = out / ".export.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    merged.save_pretrained(scratch, safe_serialization=True)
    tokenizer.save_pretrained(scratch)
    files = sorted(scratch.iterdir(), key=lambda f: f.name == "config.json")
    for file in files:
        os.replace(file, out / file.name)
    scratch.rmdir()
