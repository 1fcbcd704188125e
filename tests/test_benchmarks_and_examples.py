"""Every script in benchmarks/ and examples/ runs, in its --quick mode, as a user would start it.

Each runs in a fresh interpreter from the repository root, with the data mirror
of ``conftest`` in its environment, and must exit 0 and print its numbers. A
script whose data or optional model is missing is skipped with the reason.
Also: the base install (no extras) stays torch-free.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, require_data, require_smollm2

MICRO_ENV = "LLMConfig-Micro-S-D250K-v0"


def run_script(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python SCRIPT ARGS`` from the repository root; fail with its output unless it exits 0."""
    result = subprocess.run([sys.executable, script, *args], cwd=REPO, capture_output=True, text=True,
                            env=env or dict(os.environ), timeout=300)
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{script} exited {result.returncode}\n{output}"
    return result


def require_all_data() -> None:
    """Skip unless the mirror has the four sources the benchmarks over every task read."""
    for relative in ("steplaw", "admire", "regmix", "hwgpt"):
        if not (Path(os.environ["LLMCONFIG_DATA_DIR"]) / relative).is_dir():
            pytest.skip(f"data mirror folder {relative}/ is missing (set LLMCONFIG_DATA_DIR)")


# -- benchmarks/ ---------------------------------------------------------------------------------------

def test_env_throughput_quick_reports_every_task_including_arch() -> None:
    require_all_data()
    out = run_script("benchmarks/env_throughput.py", "--quick").stdout
    for task in ("Arch", "Pretrain", "Mixture", "PileMix", "Micro"):
        assert task in out
    assert "LLMConfig-Arch-GPTS-v0" in out


def test_env_throughput_without_data_names_the_fix(tmp_path: Path) -> None:
    env = {**os.environ, "LLMCONFIG_DATA_DIR": str(tmp_path), "LLMCONFIG_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "benchmarks/env_throughput.py", "--quick"], cwd=REPO,
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1
    assert "CalledProcessError" not in result.stderr and "Traceback" not in result.stderr
    assert "cannot make LLMConfig-" in result.stderr and "llmconfig data pull" in result.stderr


def test_llmzero_compare_quick() -> None:
    out = run_script("benchmarks/llmzero_compare.py", "--quick").stdout
    assert "zero compare --methods llmzero,grid --seeds 1" in out
    assert "llmzero        best val" in out and "grid           best val" in out


def test_arch_surrogate_quick() -> None:
    require_data("hwgpt/perplexity_s.pt")
    out = run_script("benchmarks/arch_surrogate.py", "--quick").stdout
    assert "query_us_p50" in out and out.count("\ns | ") >= 1


def test_collect_micro_quick() -> None:
    out = run_script("benchmarks/collect_micro.py", "--quick").stdout
    assert "mean exponent a (lr_opt ~ N^a)" in out and "best config per cell" in out


def test_leaderboard_l2h_quick(tmp_path: Path) -> None:
    out = run_script("benchmarks/leaderboard_l2h.py", str(tmp_path / "lb"), "--quick").stdout
    assert "wall time" in out and "random" in out and "T=1" in out
    assert (tmp_path / "lb" / "leaderboard.md").is_file()


def test_trained_agent_table_quick() -> None:
    out = run_script("benchmarks/trained_agent_table.py", "--quick").stdout
    assert "| random | 4 | 1.000 | 1.000 |" in out and "T=2" in out and "`LLMConfig-Micro-M-D750K-v0`" in out
    cells = out.split("| random | 4 | 1.000 | 1.000 | ")[1].split("\n")[0].rstrip(" |").split(" | ")
    overall = [float(c.split(" ")[0]) for c in cells]
    task_line = next(line for line in out.splitlines() if line.startswith("| random | ") and line.count("|") == 3)
    assert "| Micro (1) |" in out  # one task: its mean over budgets is the mean of the overall row's budgets
    assert float(task_line.split("|")[2]) == pytest.approx(sum(overall) / len(overall), abs=1e-3)


@pytest.mark.slow  # loading the GGUF model dominates (~45 s on 2 shared cores)
def test_stress_suites_quick(tmp_path: Path) -> None:
    out = run_script("benchmarks/stress_suites.py", "--quick", "--out", str(tmp_path)).stdout
    assert "l2h-sparse20" in out and "l2h-reversed" in out and "coverage 0.20" in out
    assert (tmp_path / "stress_suites.png").read_bytes().startswith(b"\x89PNG")


def test_llm_backends_quick() -> None:
    require_smollm2()
    out = run_script("benchmarks/llm_backends.py", "--quick").stdout
    assert '"tokens_per_s"' in out and '"llama-cpp"' in out


def test_rollout_speed_quick() -> None:
    require_smollm2()
    out = run_script("benchmarks/rollout_speed.py", "--quick").stdout
    assert '"tokens_per_s"' in out and '"speedup"' in out and '"step_s"' in out


def test_fuzz_actions_quick_every_task(tmp_path: Path) -> None:
    require_all_data()
    report = tmp_path / "fuzz.md"
    out = run_script("benchmarks/fuzz_actions.py", "--quick", "--out", str(report)).stdout
    for task in ("Pretrain", "Mixture", "PileMix", "Arch", "Micro"):
        assert f"LLMConfig-{task}-" in out
    assert out.count("0 exceptions") == 5
    assert "| env | actions | steps/s | valid | matched | invalid | repeat |" in report.read_text()


# -- examples/ ---------------------------------------------------------------------------------------

def test_quickstart_example() -> None:
    out = run_script("examples/quickstart.py", MICRO_ENV).stdout
    assert "Mean normalized regret of random search" in out and MICRO_ENV in out


def test_paper_api_example_quick() -> None:
    out = run_script("examples/paper_api.py", "--quick").stdout
    assert "tasks:" in out and "Micro" in out and "query(0) ->" in out and "'train':" in out


def test_train_sb3_discrete_example_quick() -> None:
    pytest.importorskip("stable_baselines3")
    out = run_script("examples/train_sb3_discrete.py", "--quick").stdout
    assert "PPO trained 256 steps" in out
    assert out.count("LLMConfig-Micro-") >= 2


def test_custom_agent_leaderboard_example_quick() -> None:
    out = run_script("examples/custom_agent_leaderboard.py", "--quick").stdout
    assert "local-search" in out and "random" in out  # a module:Class agent is listed under its own name


# -- item 12: the base install is torch-free -------------------------------------------------------------

def test_base_install_requires_no_torch() -> None:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    base = [line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()]
    assert base and not [req for req in base if req.lower().startswith("torch")]


def test_base_import_and_micro_env_do_not_import_torch() -> None:
    code = (
        "import sys, gymnasium, gymnasium_llmconfig, wrappers\n"
        "from agents import run_episode\n"
        "from agents.random_search import RandomSearch\n"
        f"env = wrappers.MostSimilarConfig(gymnasium.make({MICRO_ENV!r}, budget=2))\n"
        "run_episode(env, RandomSearch(), seed=0)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'botorch', 'gpytorch')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_grpo_landscape_quick() -> None:
    out = run_script("benchmarks/grpo_landscape.py", "--quick").stdout
    assert "best config per fidelity" in out and "mean accuracy by lr" in out and "LLMConfig" not in out
    assert "Add3-N256-E8" in out and "min of run time in all" in out


def test_trained_agent_table_names_an_unknown_task(tmp_path: Path) -> None:
    import importlib.util

    from gymnasium_llmconfig.lab.leaderboard.runner import AgentSpec, BenchmarkPlan, run_benchmark

    spec = importlib.util.spec_from_file_location("trained_agent_table", REPO / "benchmarks/trained_agent_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plan = BenchmarkPlan(suite="smoke", agents=[AgentSpec("random", {})], budgets=[1], seeds=[0],
                         envs=["LLMConfig-Micro-M-D750K-v0"])
    run_benchmark(plan, tmp_path, workers=0, progress=False)
    assert "| Micro (1) |" in module.table([str(tmp_path)], ["Micro"])
    with pytest.raises(SystemExit, match="--tasks: Foo not in these results; they hold Micro"):
        module.table([str(tmp_path)], ["Micro", "Foo"])
