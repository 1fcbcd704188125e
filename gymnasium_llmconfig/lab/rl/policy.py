"""Per-token log-probabilities of rollouts under a causal LM, computed only where the loss reads them.

A rollout's ``token_ids`` and ``action_mask`` (1 on the tokens the model generated) come
from the rollout engine. Token ``t`` is predicted from position ``t - 1``, so the
returned tensors are aligned with ``ids[:, 1:]`` and ``mask[:, 1:]``. The vocabulary
projection runs only on the masked positions: an l2h prompt of 7,000 tokens times a
49k vocabulary would otherwise be a 1.4 GB logit tensor per sequence for tokens the
loss never reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_right(rows: Sequence[Sequence[int]], pad: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Rows of different lengths as one ``(B, T)`` long tensor, padded on the right with ``pad``."""
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(list(row), dtype=torch.long)
    return out.to(device)


def token_logprobs(model: torch.nn.Module, ids: torch.Tensor, attention: torch.Tensor, mask: torch.Tensor,
                   temperature: float = 1.0) -> torch.Tensor:
    """``log pi(ids[:, t] | ids[:, :t]) `` at every ``t`` where ``mask[:, t]`` is 1, else 0; shape ``(B, T - 1)``.

    Logits are divided by the sampling ``temperature``, so the ratio of eq. 2 compares the
    distribution the tokens were drawn from.
    """
    hidden = model.get_decoder()(input_ids=ids, attention_mask=attention).last_hidden_state[:, :-1]
    wanted = mask[:, 1:].bool()
    logits = model.get_output_embeddings()(hidden[wanted]).float()
    if temperature and temperature > 0:
        logits = logits / temperature
    picked = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:][wanted][:, None])[:, 0]
    out = torch.zeros(wanted.shape, dtype=picked.dtype, device=picked.device)
    return out.masked_scatter(wanted, picked)
