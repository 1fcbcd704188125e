"""LLMZero against grid, random, the practitioner default and its three ablations, over seeds (paper 003 §4).

    python benchmarks/llmzero_compare.py                  # 7 methods x 5 seeds x 16 iterations (hours on 2 cores)
    python benchmarks/llmzero_compare.py --quick          # llmzero and grid, 1 seed, 2 iterations, tiny steps (CI)
    python benchmarks/llmzero_compare.py --methods llmzero,grid --seeds 1 --out runs/llmzero-check

Runs ``llmconfig zero compare`` as a user would (a fresh process; Ray workers unless ``--workers 0``),
times it, prints the main table and, in full mode, writes ``benchmarks/results/llmzero.md``: the
comparison's report tables (figures stay in ``--out``) under a header with the command, the machine
and the wall time. A rerun with the same ``--out`` resumes the jobs not finished.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALL_METHODS = "llmzero,grid,random,practitioner,no-multistage,no-earlystop,no-scratch"
QUICK = ["--iterations", "2", "--steps", "4", "--full-steps", "4", "--val-every", "2", "--samples", "64",
         "--val-size", "32", "--test-size", "32", "--workers", "0"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="llmzero,grid x 1 seed x 2 iterations, tiny steps")
    parser.add_argument("--methods", default=None, help=f"default: {ALL_METHODS} (quick: llmzero,grid)")
    parser.add_argument("--seeds", type=int, default=None, help="default 5 (quick: 1)")
    parser.add_argument("--iterations", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None, help="Ray workers (default: every core)")
    parser.add_argument("--out", type=Path, default=None, help="comparison directory (default runs/llmzero-compare)")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "llmzero.md",
                        help="full mode writes its tables here")
    args = parser.parse_args()
    methods = args.methods or ("llmzero,grid" if args.quick else ALL_METHODS)
    seeds = args.seeds or (1 if args.quick else 5)
    scratch = args.quick and args.out is None  # quick mode's output is thrown away unless --out keeps it
    default = Path(tempfile.mkdtemp(prefix="llmzero-quick-")) if scratch else REPO / "runs" / "llmzero-compare"
    out = args.out or default
    try:
        run(args, methods, seeds, out)
    finally:
        if scratch:
            shutil.rmtree(out, ignore_errors=True)


def run(args: argparse.Namespace, methods: str, seeds: int, out: Path) -> None:
    command = ["zero", "compare", "--methods", methods, "--seeds", str(seeds), "--out", str(out)]
    command += QUICK if args.quick else ["--iterations", str(args.iterations)]
    if args.workers is not None and not args.quick:
        command += ["--workers", str(args.workers)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    print("llmconfig " + " ".join(command), flush=True)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "gymnasium_llmconfig.lab.cli", *command], cwd=REPO, env=env)
    wall = time.perf_counter() - start
    if result.returncode:
        sys.exit(result.returncode)
    summary = json.loads((out / "summary.json").read_text())
    cpu = sum(r["cpu_seconds"] for runs in summary["runs"].values() for r in runs.values())
    print(f"wall {wall:.1f} s, training CPU {cpu:.1f} s over {len(summary['methods'])} methods x "
          f"{len(summary['seeds'])} seed(s); report: {out / 'report.md'}")
    for method in summary["methods"]:
        row = {k: "-" if v["mean"] is None else f"{v['mean']:.4g}" for k, v in summary["table"][method].items()}
        print(f"  {method:<14} best val {row['best_val']}  test at best val {row['test_at_best']}  "
              f"CPU s {row['cpu_seconds']}")
    if not args.quick:
        header = ["# LLMZero comparison (`benchmarks/llmzero_compare.py`)", "",
                  f"Command: `llmconfig {' '.join(command)}`  ",
                  f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
                  f"wall {wall / 60:.1f} min (this invocation), training CPU {cpu / 3600:.2f} h over all jobs.  ",
                  f"Figures: `{out}/*.png` and the self-contained `{out}/report.html`.", ""]
        args.results.parent.mkdir(parents=True, exist_ok=True)
        body = [figure_beside(line, out, args.results) for line in (out / "report.md").read_text().splitlines()[1:]]
        args.results.write_text("\n".join(header + body) + "\n")
        print(f"wrote {args.results}")


def figure_beside(line: str, out: Path, results: Path) -> str:
    """A report line; an image line's PNG is copied beside ``results`` (prefixed by its stem) and relinked."""
    if not line.startswith("![") or not line.endswith(".png)"):
        return line
    alt, name = line[2:-1].split("](")
    target = f"{results.stem}_{name}"
    shutil.copyfile(out / name, results.parent / target)
    return f"![{alt}]({target})"


if __name__ == "__main__":
    main()
