"""Batched sampling from a local causal LM: many prompts at once, each with its own seed and stop.

Prompts are sorted by length and cut into buckets (at most ``max_rows`` rows and
``max_batch_tokens`` padded prompt tokens each), so little compute goes to padding;
each bucket is left-padded, prefilled once (only the last position's logits are
kept: a full-vocabulary logit tensor of a long prompt would not fit in memory) and
decoded with the KV cache. Every row samples from its own ``torch.Generator``
seeded with its seed, so a row's reply does not depend on which other rows share its
batch (up to float rounding of padded attention). A row stops at a stop token or at
its own token limit, and its ids are returned in the caller's order.

Prompts that start alike share their prefill: rows whose prompts begin with the same
``min_shared`` or more tokens (the G rollouts of one GRPO sample, one env at budgets
1..5, a trajectory generator's N samples) get the keys and values of their longest
common beginning from one forward pass, and only their own remainder is prefilled.
On a CPU, where prefill is compute-bound and a long prompt dominates a short reply,
this is what makes lockstep batching pay.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass
class PrefixCache:
    """The keys and values of an episode's first ``length`` token ids, kept between its turns.

    The next turn's prompt starts with those ids, so only its new tokens (the env's
    feedback and the assistant header) are prefilled. One ``(keys, values)`` pair per
    layer, each ``(kv_heads, length, head_dim)``.
    """

    length: int
    layers: list[tuple[torch.Tensor, torch.Tensor]]

    def beginning(self, length: int) -> PrefixCache:
        """The cache of the first ``length`` tokens (views, not copies)."""
        return PrefixCache(length, [(k[:, :length], v[:, :length]) for k, v in self.layers])


@dataclass(frozen=True)
class SharedPrefix:
    """One prefill for many rows: ``prompts[source][:length]``; row ``r`` uses its first ``rows[r]`` tokens."""

    source: int
    length: int
    rows: dict[int, int]


def shared_prefixes(prompts: Sequence[Sequence[int]], eligible: Sequence[bool], min_shared: int) -> list[SharedPrefix]:
    """One :class:`SharedPrefix` per group of eligible rows that share a beginning of ``min_shared``+ tokens.

    Each row takes the longest beginning it shares with another eligible row (its best
    neighbour in sorted order). Rows with the same such beginning are prefilled once; a
    row whose partner shares more with a third row borrows the first tokens of that
    longer prefill (the keys and values of a beginning are a beginning of the keys and
    values). A row's length stops one short of its prompt, so it still has a token to
    prefill, whose logits start the reply; a prefill that only one row would use is not made.
    Among chat prompts, which all end with the assistant header so none is a proper
    beginning of another, every row that shares ``min_shared`` tokens with another gets
    the longest beginning it shares with any.
    """
    min_shared = max(1, min_shared)
    order = sorted((i for i, ok in enumerate(eligible) if ok), key=lambda i: list(prompts[i]))
    best, partner = dict.fromkeys(order, 0), {i: i for i in order}
    for a, b in itertools.pairwise(order):
        n = _common_length(prompts[a], prompts[b])
        if n > best[a]:
            best[a], partner[a] = n, b
        if n > best[b]:
            best[b], partner[b] = n, a
    members: dict[tuple[int, ...], list[int]] = {}
    for i in order:
        members.setdefault(tuple(prompts[i][: best[i]]), []).append(i)

    def home(i: int) -> list[int]:  # the group that prefills for i: its own, or its partner's (longer) one
        group = members[tuple(prompts[i][: best[i]])]
        return group if len(group) > 1 else home(partner[i])

    shares: dict[int, SharedPrefix] = {}
    for i in order:
        length = min(best[i], len(prompts[i]) - 1)
        if length < min_shared:
            continue
        source = max(home(i), key=lambda k: (len(prompts[k]), -k))  # the longest member can give the most
        share = shares.setdefault(source, SharedPrefix(source, min(best[source], len(prompts[source]) - 1), {}))
        share.rows[i] = min(length, share.length)
    return sorted((s for s in shares.values() if len(s.rows) > 1), key=lambda s: min(s.rows))


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    return next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def prefill(model: Any, ids: Sequence[int]) -> PrefixCache:
    """The keys and values of ``ids`` from one forward pass (no logits beyond the last position)."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        result = model(input_ids=torch.tensor([list(ids)], dtype=torch.long, device=device), use_cache=True,
                       logits_to_keep=1)
    return PrefixCache(len(ids), [(k[0], v[0]) for k, v in _cache_layers(result.past_key_values)])


def sample(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: Sequence[int],
    temperature: float,
    seeds: Sequence[int | None],
    stop_ids: Sequence[int],
    pad_id: int,
    caches: list[PrefixCache | None] | None = None,
    max_rows: int = 16,
    max_batch_tokens: int = 65536,
    min_shared: int = 256,
) -> list[list[int]]:
    """Each prompt's generated ids (ending with the stop token when one was produced).

    With ``caches`` (one slot per prompt, ``None`` or the :class:`PrefixCache` of the
    prompt's beginning), each slot is replaced by the cache of the prompt plus the reply.
    Rows without a cache share the prefill of a common beginning (:func:`shared_prefixes`;
    ``min_shared=0`` turns that off).
    """
    slots: list[PrefixCache | None] = list(caches) if caches is not None else [None] * len(prompts)
    if min_shared > 0:
        for share in shared_prefixes(prompts, [c is None for c in slots], min_shared):
            shared = prefill(model, prompts[share.source][: share.length])
            for i, length in share.rows.items():
                slots[i] = shared if length == shared.length else shared.beginning(length)
    out: list[list[int]] = [[] for _ in prompts]
    for group in buckets([len(p) for p in prompts], max_rows, max_batch_tokens):
        rows, new_caches = _sample_group(
            model, [prompts[i] for i in group], [max_new_tokens[i] for i in group], temperature,
            [seeds[i] for i in group], stop_ids, pad_id, [slots[i] for i in group], caches is not None,
        )
        for k, i in enumerate(group):
            out[i] = rows[k]
            if caches is not None:
                caches[i] = new_caches[k]
    return out


def _left_pad(rows: list[Sequence[int]], width: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, tokens in enumerate(rows):
        if tokens:
            ids[row, width - len(tokens):] = torch.tensor(list(tokens), dtype=torch.long)
            mask[row, width - len(tokens):] = 1
    return ids, mask


def _batch_cache(model: Any, caches: Sequence[PrefixCache | None], width: int, device: Any) -> Any:
    """The rows' prefix caches left-padded to ``width`` as one transformers ``DynamicCache`` (a copy:
    rows sharing one prefix's tensors never write into them)."""
    from transformers import DynamicCache

    first = next(c for c in caches if c is not None)
    cache = DynamicCache()
    for layer, (keys, values) in enumerate(first.layers):
        shape = (len(caches), keys.shape[0], width, keys.shape[2])
        k = torch.zeros(shape, dtype=keys.dtype, device=device)
        v = torch.zeros(shape, dtype=values.dtype, device=device)
        for row, c in enumerate(caches):
            if c is not None:
                k[row, :, width - c.length:] = c.layers[layer][0]
                v[row, :, width - c.length:] = c.layers[layer][1]
        cache.update(k, v, layer)
    return cache


def _cache_layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if hasattr(cache, "layers"):  # transformers >= 4.54
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))


def _sample_group(
    model: Any, prompts: list[Sequence[int]], limits: list[int], temperature: float,
    seeds: list[int | None], stop_ids: Sequence[int], pad_id: int, caches: list[PrefixCache | None],
    export: bool,
) -> tuple[list[list[int]], list[PrefixCache | None]]:
    """One bucket: prefill what the caches do not hold, decode, and (``export``) each row's new cache."""
    device = next(model.parameters()).device
    cached = [0 if c is None else c.length for c in caches]
    fresh = [list(p)[n:] for p, n in zip(prompts, cached, strict=True)]
    past_width = max(cached)
    ids, mask = _left_pad(fresh, max(len(f) for f in fresh), pad_id)
    mask = torch.cat([_left_pad([[1] * n for n in cached], past_width, 0)[1], mask], dim=1)
    ids, mask = ids.to(device), mask.to(device)
    past = _batch_cache(model, caches, past_width, device) if past_width else None
    generators = [None if s is None else torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
    stops = torch.tensor(list(stop_ids), dtype=torch.long, device=device)
    done = torch.tensor([limit <= 0 for limit in limits], device=device)
    keep = [mask.bool()]  # the cache positions that hold each row's own tokens
    generated: list[list[int]] = [[] for _ in prompts]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, past_width:]
    with torch.inference_mode():
        result = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=past,
                       use_cache=True, logits_to_keep=1)
        for step in range(max(limits)):
            nxt = _pick(result.logits[:, -1, :].float(), temperature, generators)
            nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
            for row in torch.nonzero(~done).flatten().tolist():
                generated[row].append(int(nxt[row]))
            live = ~done
            done = done | torch.isin(nxt, stops) | torch.tensor(
                [step + 1 >= limit for limit in limits], device=device)
            if bool(done.all()):
                break
            keep.append((live & ~done)[:, None])
            mask = torch.cat([mask, torch.ones((len(prompts), 1), dtype=mask.dtype, device=device)], dim=1)
            positions = positions[:, -1:] + 1
            result = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=positions,
                           past_key_values=result.past_key_values, use_cache=True)
        if not export:
            return generated, []
        kept = torch.cat(keep, dim=1)
        layers = _cache_layers(result.past_key_values)
        out: list[PrefixCache | None] = []
        for row in range(len(prompts)):
            where = kept[row]
            out.append(PrefixCache(int(where.sum()), [(k[row][:, where].clone(), v[row][:, where].clone())
                                                       for k, v in layers]))
        return generated, out


def _pick(logits: torch.Tensor, temperature: float, generators: list[torch.Generator | None]) -> torch.Tensor:
    """One token per row: argmax at temperature 0, else a draw from softmax(logits / T) with the row's generator."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / temperature, dim=-1).cpu()
    picks = [torch.multinomial(p, 1, generator=g).item() for p, g in zip(probs, generators, strict=True)]
    return torch.tensor(picks, dtype=torch.long, device=logits.device)
