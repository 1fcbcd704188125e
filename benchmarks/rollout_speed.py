"""Rollout tokens/s batched vs one episode at a time, and GRPO step time, with the rollout engine.

    python benchmarks/rollout_speed.py --threads 1 --out benchmarks/results/rollout_speed.md
    python benchmarks/rollout_speed.py --model runs/sft --device cuda --batches 8,16,64
    python benchmarks/rollout_speed.py --quick          # 2 short episodes, 4 new tokens, no KL (for CI)

The same N episodes (the smoke suite's test pairs: shipped Micro envs, no data needed;
N = the largest batch) are played by :class:`RolloutEngine` one at a time (batch of one)
and then in lockstep batches of B. Rows sample with their own seeds, so both modes
generate (nearly) the same tokens and the ratio is the speed-up of batching alone.
Episodes of the same env share their prompt, as the G rollouts of a GRPO sample do, so
a batch prefills that prompt once; the last rows turn off that shared prefill and the
per-episode KV cache across turns to show what each buys.
Tokens/s counts generated tokens over wall time, prefill included. The GRPO step is
one eq. 2 forward/backward over 4 rollouts (with the reference policy's forward for
the KL) plus the optimizer step.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="smollm2 (packaged GGUF) or a local HF model dir")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="8,16", help="lockstep batch sizes B to time")
    parser.add_argument("--budget", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, help="write the results as a Markdown table here")
    parser.add_argument("--no-demos", action="store_true", help="prompts without demonstrations (shorter)")
    parser.add_argument("--quick", action="store_true", help="2 episodes, budget 1, no demos, 4 new tokens")
    args = parser.parse_args()
    if args.quick:
        args.batches, args.budget, args.max_new_tokens, args.no_demos = "2", 1, 4, True

    import torch

    import gymnasium_llmconfig  # noqa: F401  (registers the envs)
    from agents.llm.hf import TransformersBackend
    from gymnasium_llmconfig.curation import resolve_suite
    from gymnasium_llmconfig.lab.rollout import EpisodeSpec, RolloutEngine

    torch.set_num_threads(args.threads)
    backend = TransformersBackend(args.model, device=args.device)
    batches = sorted({int(b) for b in args.batches.split(",")})
    pairs = resolve_suite("smoke").test_pairs
    specs = [EpisodeSpec(pairs[i % len(pairs)].target, args.budget, seed=i,
                         demos=() if args.no_demos else pairs[i % len(pairs)].demos) for i in range(max(batches))]
    engines = {reuse: RolloutEngine(backend, max_new_tokens=args.max_new_tokens, temperature=0.7,
                                    reuse_cache=reuse) for reuse in (True, False)}
    engines[True].play(specs[:1])  # warm-up

    def timed(batch: int, reuse: bool = True, share: bool = True) -> dict:
        backend.min_shared_prefix = 256 if share else 0
        start = time.perf_counter()
        rollouts = [r for i in range(0, len(specs), batch) for r in engines[reuse].play(specs[i:i + batch])]
        wall = time.perf_counter() - start
        generated = sum(sum(r.reply_tokens) for r in rollouts)
        print(f"B={batch} kv_reuse={reuse} shared_prefill={share}: {generated} tokens in {wall:.1f} s",
              file=sys.stderr, flush=True)
        return {"batch": batch, "kv_reuse": reuse, "shared_prefill": share, "episodes": len(rollouts),
                "generated_tokens": generated,
                "wall_s": round(wall, 2), "tokens_per_s": round(generated / wall, 1), "rollouts": rollouts}

    rows = [timed(1), *(timed(b) for b in batches)]
    if not args.quick:
        rows.append(timed(max(batches), share=False))  # what prefilling a shared prompt once buys
    if args.budget > 1 and not args.quick:
        rows.append(timed(max(batches), reuse=False))  # what reusing the KV cache across turns buys
    for row in rows[1:]:
        row["speedup"] = round(row["tokens_per_s"] / rows[0]["tokens_per_s"], 2)
    grpo = time_grpo_step(backend, rows[-1]["rollouts"][:2 if args.quick else 4], kl=not args.quick)
    result = {"model": backend.model_id, "device": args.device, "threads": args.threads, "budget": args.budget,
              "demos": not args.no_demos, "max_new_tokens": args.max_new_tokens,
              "cpu": platform.processor() or platform.machine(),
              "rollouts": [{k: v for k, v in row.items() if k != "rollouts"} for row in rows], "grpo": grpo}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(markdown(result))


def time_grpo_step(backend: object, rollouts: list, kl: bool) -> dict:
    """Seconds of one GRPO step (eq. 2, with KL when ``kl``; micro-batch 2, AdamW) over ``rollouts`` (groups of 2)."""
    import copy

    import torch

    from gymnasium_llmconfig.lab.train.grpo import GRPOSettings, grpo_step

    policy = backend.model
    reference = copy.deepcopy(policy).requires_grad_(False) if kl else None
    for i, rollout in enumerate(rollouts):
        rollout.rewards = [-0.25 * (i % 2) - 0.5]  # a spread, so the advantages are not 0
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-6)
    settings = GRPOSettings(group_size=2, micro_batch=2, temperature=0.7, kl_coef=0.04 if kl else 0.0)
    start = time.perf_counter()
    grpo_step(policy, reference, rollouts, settings, int(backend.tokenizer.pad_token_id))
    optimizer.step()
    wall = time.perf_counter() - start
    tokens = sum(len(r.token_ids) for r in rollouts)
    return {"sequences": len(rollouts), "tokens": tokens, "kl": kl, "step_s": round(wall, 2),
            "train_tokens_per_s": round(tokens / wall, 1)}


def markdown(result: dict) -> str:
    lines = [
        "# Rollout speed: batched vs one episode at a time",
        "",
        f"`python benchmarks/rollout_speed.py --threads {result['threads']}` on {result['device']} "
        f"({result['cpu']}), model `{Path(result['model']).name}`, budget {result['budget']}, "
        f"up to {result['max_new_tokens']} new tokens per turn, smoke-suite test pairs"
        f"{'' if result['demos'] else ' without demonstrations'}.",
        "",
        "| lockstep batch B | shared prompt prefilled once | KV cache kept across turns | episodes "
        "| generated tokens | wall s | tokens/s | speed-up vs B=1 |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["rollouts"]:
        shared = "-" if row["batch"] == 1 else "yes" if row["shared_prefill"] else "no"
        lines.append(f"| {row['batch']} | {shared} | {'yes' if row['kv_reuse'] else 'no'} | {row['episodes']} | "
                     f"{row['generated_tokens']} | {row['wall_s']} | {row['tokens_per_s']} | "
                     f"{row.get('speedup', 1.0)} |")
    g = result["grpo"]
    kl = "with KL to a frozen copy" if g["kl"] else "no KL"
    lines += ["", f"GRPO step (eq. 2 {kl}, AdamW, micro-batch 2): {g['sequences']} sequences, "
              f"{g['tokens']} tokens, {g['step_s']} s ({g['train_tokens_per_s']} tokens/s).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
