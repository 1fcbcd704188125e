"""Ctrl-C of a running ``llmconfig bench``: exit 130 with the resume hint, no Ray process left (issue 17 item 2)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from gymnasium_llmconfig.curation import resolve_suite

AGENTS = ["random", "topk", "gp-bo"]
BUDGETS = [1, 2, 3, 4, 5]
SEEDS = 2
COMMAND = [sys.executable, "-m", "gymnasium_llmconfig.lab.cli", "bench", "--suite", "smoke",
           "--agents", ",".join(AGENTS), "--budgets", "1-5", "--seeds", str(SEEDS), "--workers", "2",
           "--no-progress"]


def _bench(out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*COMMAND, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {process.name()}")
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.slow
@pytest.mark.signals
def test_interrupts_at_random_moments_stop_cleanly_and_resume_without_duplicates(tmp_path: Path) -> None:
    rng = random.Random(17)
    out = tmp_path / "bench"
    for attempt, delay in enumerate(sorted(rng.uniform(1.0, 14.0) for _ in range(3))):
        run = _bench(out)
        time.sleep(delay)
        family = psutil.Process(run.pid).children(recursive=True)  # Ray's processes started by this run
        run.send_signal(signal.SIGINT)
        if attempt == 1:  # a second Ctrl-C while it shuts down changes nothing
            time.sleep(0.3)
            run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=60)
        if run.returncode == 0:  # finished before the signal: nothing left to interrupt
            break
        assert run.returncode == 130, output
        assert "Interrupted: re-run the same command to resume." in output, output
        assert "Traceback" not in output and "Check failed" not in output, output
        deadline = time.monotonic() + 10
        while _alive(family) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(family), f"left running after the interrupt at {delay:.1f} s: {_alive(family)}"
    final = _bench(out)
    output, _ = final.communicate(timeout=240)
    assert final.returncode == 0 and "Done." in output, output
    lines = (out / "episodes.jsonl").read_text().splitlines()
    keys = [(r["agent"], r["env_id"], r["budget"], r["seed"]) for r in map(json.loads, lines)]
    assert len(keys) == len(set(keys)) == len(AGENTS) * len(resolve_suite("smoke").test) * len(BUDGETS) * SEEDS
