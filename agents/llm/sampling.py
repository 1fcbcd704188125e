"""Batched sampling from a local causal LM: many prompts at once, each with its own seed and stop.

Prompts are sorted by length and cut into buckets (at most ``max_rows`` rows and
``max_batch_tokens`` padded prompt tokens each), so little compute goes to padding;
each bucket is left-padded, prefilled once (only the last position's logits are
kept: a full-vocabulary logit tensor of a long prompt would not fit in memory) and
decoded with the KV cache. Every row samples from its own ``torch.Generator``
seeded with its seed, so a row's reply does not depend on which other rows share its
batch (up to float rounding of padded attention). A row stops at a stop token or at
its own token limit, and its ids are returned in the caller's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def buckets(lengths: Sequence[int], max_rows: int, max_batch_tokens: int) -> list[list[int]]:
    """Indices grouped shortest-first so each group's padded size stays within the limits."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and len(groups[-1]) < max_rows and (len(groups[-1]) + 1) * lengths[i] <= max_batch_tokens:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def sample(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: Sequence[int],
    temperature: float,
    seeds: Sequence[int | None],
    stop_ids: Sequence[int],
    pad_id: int,
    max_rows: int = 16,
    max_batch_tokens: int = 65536,
) -> list[list[int]]:
    """Each prompt's generated ids (ending with the stop token when one was produced)."""
    out: list[list[int]] = [[] for _ in prompts]
    for group in buckets([len(p) for p in prompts], max_rows, max_batch_tokens):
        rows = _sample_group(
            model, [prompts[i] for i in group], [max_new_tokens[i] for i in group], temperature,
            [seeds[i] for i in group], stop_ids, pad_id,
        )
        for i, ids in zip(group, rows, strict=True):
            out[i] = ids
    return out


def _sample_group(
    model: Any, prompts: list[Sequence[int]], limits: list[int], temperature: float,
    seeds: list[int | None], stop_ids: Sequence[int], pad_id: int,
) -> list[list[int]]:
    device = next(model.parameters()).device
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(list(prompt), dtype=torch.long)
        mask[row, width - len(prompt):] = 1
    ids, mask = ids.to(device), mask.to(device)
    generators = [None if s is None else torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
    stops = torch.tensor(list(stop_ids), dtype=torch.long, device=device)
    done = torch.tensor([limit <= 0 for limit in limits], device=device)
    generated: list[list[int]] = [[] for _ in prompts]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        result = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                       logits_to_keep=1)
        for step in range(max(limits)):
            nxt = _pick(result.logits[:, -1, :].float(), temperature, generators)
            nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
            for row in torch.nonzero(~done).flatten().tolist():
                generated[row].append(int(nxt[row]))
            done = done | torch.isin(nxt, stops) | torch.tensor(
                [step + 1 >= limit for limit in limits], device=device)
            if bool(done.all()):
                break
            mask = torch.cat([mask, torch.ones((len(prompts), 1), dtype=mask.dtype, device=device)], dim=1)
            positions = positions[:, -1:] + 1
            result = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=positions,
                           past_key_values=result.past_key_values, use_cache=True)
    return generated


def _pick(logits: torch.Tensor, temperature: float, generators: list[torch.Generator | None]) -> torch.Tensor:
    """One token per row: argmax at temperature 0, else a draw from softmax(logits / T) with the row's generator."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / temperature, dim=-1).cpu()
    picks = [torch.multinomial(p, 1, generator=g).item() for p, g in zip(probs, generators, strict=True)]
    return torch.tensor(picks, dtype=torch.long, device=logits.device)
