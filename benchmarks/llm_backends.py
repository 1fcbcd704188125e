"""Tokens/s of the llm-prompt agent's local backends on this machine.

    python benchmarks/llm_backends.py                     # packaged SmolLM2-135M GGUF, CPU, 1 thread
    python benchmarks/llm_backends.py --threads 4 --max-new-tokens 128 --json out.json
    python benchmarks/llm_backends.py --model /path/to/model --device cuda
    python benchmarks/llm_backends.py --quick                     # 8 new tokens, one repeat (for CI)

Measures, on the env's own task prompt: model load time, prefill time (one new
token) and decode throughput (completion tokens / generate seconds, prefill
included, and decode-only after subtracting prefill). The llama-cpp backend is
not built in (llama-cpp-python compiles llama.cpp from source); its status is
reported, nothing is measured for it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def task_prompt(env_id: str) -> list[dict[str, str]]:
    from agents.llm import DEFAULT_SYSTEM_PROMPT

    try:
        import gymnasium

        import gymnasium_llmconfig  # noqa: F401

        obs, _ = gymnasium.make(env_id, budget=2).reset(seed=0)
    except Exception as exc:  # fall back to a synthetic prompt without the data
        print(f"(no env prompt: {exc.__class__.__name__}; using a synthetic one)", file=sys.stderr)
        obs = "Choose a learning rate and batch size. " * 40 + '\n{"name": "exec_config", "arguments": {...}}'
    return [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": obs}]


def bench_transformers(args: argparse.Namespace) -> dict:
    import torch

    from agents.llm.chat_format import prompt_ids
    from agents.llm.hf import TransformersBackend

    torch.set_num_threads(args.threads)
    backend = TransformersBackend(args.model, device=args.device, num_threads=args.threads)
    messages = task_prompt(args.env)
    input_ids = torch.tensor([prompt_ids(backend.tokenizer, messages)], device=backend.device)
    prompt_tokens = int(input_ids.shape[1])
    mask = torch.ones_like(input_ids)
    pad = backend.tokenizer.pad_token_id

    def run(n: int) -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            out = backend.model.generate(
                input_ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                temperature=None, top_p=None, top_k=None, pad_token_id=pad,
            )
        assert out.shape[1] - prompt_tokens == n
        return time.perf_counter() - start

    run(4)  # warm-up
    prefill = statistics.median(run(1) for _ in range(args.repeats))
    gen = [run(args.max_new_tokens) for _ in range(args.repeats)]
    median = statistics.median(gen)
    return {
        "backend": "transformers",
        "model": backend.model_id,
        "device": backend.device,
        "dtype": str(backend.model.dtype),
        "threads": torch.get_num_threads(),
        "load_seconds": round(backend.load_seconds, 2),
        "prompt_tokens": prompt_tokens,
        "new_tokens": args.max_new_tokens,
        "prefill_seconds": round(prefill, 3),
        "generate_seconds_median": round(median, 3),
        "tokens_per_s": round(args.max_new_tokens / median, 2),
        "decode_tokens_per_s": round((args.max_new_tokens - 1) / max(1e-9, median - prefill), 2),
    }


def llama_cpp_status() -> dict:
    found = importlib.util.find_spec("llama_cpp") is not None
    return {
        "backend": "llama-cpp",
        "measured": False,
        "status": (
            "llama_cpp is importable but no llama-cpp backend is built in; serve the GGUF with llama-server "
            "and use backend='openai'" if found else
            "not installed: llama-cpp-python compiles llama.cpp from source at install time (no wheel here), "
            "so it is not a cheap optional dependency; use llama.cpp's llama-server with backend='openai'"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="local model dir or .gguf (default: packaged SmolLM2-135M)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--env", default="LLMConfig-Pretrain-N215M-D4B-v0", help="env whose prompt is used")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--quick", action="store_true", help="8 new tokens, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.max_new_tokens, args.repeats = 8, 1
    os.environ.setdefault(
        "LLMCONFIG_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "llmconfig-data")
    )
    from agents.llm import BackendUnavailable

    try:
        measured = bench_transformers(args)
    except (BackendUnavailable, ImportError) as exc:
        sys.exit(f"llm_backends.py: the transformers backend cannot run here: {exc}")
    results = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "results": [measured, llama_cpp_status()],
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
