"""``llmconfig train grpo|sft --backend openrlhf``: the files it writes, its flags, its errors.

The flags in ``launch.sh`` are parsed by the installed OpenRLHF's real ``argparse`` parser: the
statements of its ``if __name__ == "__main__"`` block up to ``parser.parse_args()`` are compiled
from the installed source and run, which builds the parser without importing Ray, vLLM or
DeepSpeed. That parser is independent of the ``ast`` reader the launcher checks flags with, and
both are compared here.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import importlib.metadata
import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.lab.train.openrlhf import flags as flags_module
from gymnasium_llmconfig.lab.train.openrlhf import launch
from gymnasium_llmconfig.lab.train.openrlhf.episodes import EpisodeLabel
from gymnasium_llmconfig.lab.train.openrlhf.prompts import first_observation

pytest.importorskip("openrlhf", reason="OpenRLHF is not installed (pip install --no-deps openrlhf==0.11.2, "
                                       "as in .ci/run)")

runner = CliRunner()


def real_parser(module: str) -> argparse.ArgumentParser:
    """The entry point's own parser, built by running its main block up to ``parse_args``."""
    tree = ast.parse(flags_module.entry_source(module).read_text())
    main = next(n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))
    body = []
    for statement in main.body:
        if "parse_args" in ast.unparse(statement):
            break
        body.append(statement)
    namespace = {"argparse": argparse, "datetime": datetime.datetime}
    exec(compile(ast.Module(body, []), module, "exec"), namespace)
    return namespace["parser"]


def script_command(script: Path) -> tuple[list[str], list[str]]:
    """``launch.sh``'s ``ray job submit`` arguments and the OpenRLHF command after ``--``."""
    text = script.read_text()
    lines = [line for line in text.replace("\\\n", " ").splitlines() if line.startswith("ray job submit")]
    tokens = shlex.split(lines[0])
    cut = tokens.index("--")
    return tokens[:cut], tokens[cut + 1:]


def grpo(tmp_path: Path, *extra: str, dry_run: bool = True):
    args = ["train", "grpo", "--backend", "openrlhf", "--suite", "smoke", "--model", "Qwen/Qwen3-4B",
            "--out", str(tmp_path / "run"), *(["--dry-run"] if dry_run else []), *extra]
    return runner.invoke(app, args)


@pytest.fixture
def no_submission(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"launched {args}")
    monkeypatch.setattr(launch.subprocess, "run", refuse)


@pytest.mark.parametrize("module", [flags_module.GRPO_ENTRY, flags_module.SFT_ENTRY])
def test_ast_reader_agrees_with_the_real_parser(module):
    parser = real_parser(module)
    real = {o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
    read = flags_module.accepted_flags(module)
    assert set(read) == real
    switches = {o for a in parser._actions for o in a.option_strings if a.nargs == 0 and o in real}
    assert {name for name, flag in read.items() if flag.switch} == switches


def test_dry_run_writes_three_files_whose_flags_openrlhf_parses(tmp_path, no_submission, monkeypatch):
    monkeypatch.setenv("LLMCONFIG_TEST_FORWARDED", "yes")
    result = grpo(tmp_path, "--set", "actor.adam.lr=2e-6", "--set", "ds.packing_samples=false",
                  "--set", "actor.adam.betas=0.9 0.99")
    assert result.exit_code == 0, result.output
    directory = tmp_path / "run" / "openrlhf"
    assert sorted(p.name for p in directory.iterdir()) == ["agent_func.py", "launch.sh", "prompts.jsonl"]
    submit, command = script_command(directory / "launch.sh")
    assert command[:3] == ["python3", "-m", "openrlhf.cli.train_ppo_ray"]
    args = real_parser(flags_module.GRPO_ENTRY).parse_args(command[3:])
    options = vars(args)
    assert options["algo.advantage.estimator"] == "group_norm" and options["rollout.n_samples_per_prompt"] == 5
    assert options["algo.kl.use_loss"] and options["algo.kl.estimator"] == "k3"
    assert options["actor.adam.lr"] == 2e-6 and options["actor.adam.betas"] == [0.9, 0.99]
    assert not options["ds.packing_samples"] and options["train.colocate_all"]
    assert options["train.agent_func_path"] == "agent_func.py" and options["data.label_key"] == "label"
    assert options["rollout.batch_size"] == 64 and options["data.max_len"] == 21500
    assert submit[:5] == ["ray", "job", "submit", "--address", "auto"]
    env = json.loads(submit[submit.index("--runtime-env-json") + 1])
    assert env["working_dir"] == str(directory)
    assert [Path(p).name for p in env["py_modules"]] == ["gymnasium_llmconfig", "agents", "wrappers"]
    assert all((Path(p) / "__init__.py").is_file() for p in env["py_modules"])
    assert "gymnasium>=1.0" in env["pip"] and env["env_vars"]["LLMCONFIG_TEST_FORWARDED"] == "yes"
    runtime_env = pytest.importorskip("ray.runtime_env")
    runtime_env.RuntimeEnv(**env)  # Ray's own validation of the keys and their types
    assert "fewer than --rollout.batch_size 64" in result.output  # smoke has 10 prompts
    assert "tokenizer is not on this machine" in result.output


def test_prompts_are_the_training_pairs_times_budgets_with_labels(tmp_path, no_submission):
    assert grpo(tmp_path, "--budgets", "1-2").exit_code == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "openrlhf" / "prompts.jsonl").read_text().splitlines()]
    pairs = resolve_suite("smoke").train_pairs
    assert len(rows) == 2 * len(pairs)
    labels = [EpisodeLabel.parse(row["label"]) for row in rows]
    assert {(lb.env_id, lb.budget) for lb in labels} == {(p.target, b) for p in pairs for b in (1, 2)}
    assert all(json.loads(row["label"])["seed"] == 0 and "demos" in json.loads(row["label"]) for row in rows)
    assert rows[0]["prompt"] == first_observation(labels[0])


@pytest.mark.parametrize("address", ["not an address", "http://", "10.0.0.1:99999", "local"])
def test_malformed_address_is_refused_before_anything_is_written(tmp_path, no_submission, address):
    result = grpo(tmp_path, "--address", address)
    assert result.exit_code == 2 and "is not a Ray cluster address" in result.output
    assert not (tmp_path / "run").exists()


def test_unreachable_cluster_is_refused_before_anything_is_written(tmp_path, no_submission):
    result = grpo(tmp_path, "--address", "127.0.0.1:1", dry_run=False)
    assert result.exit_code == 2 and "no Ray cluster answers at --address 127.0.0.1:1" in result.output
    assert not (tmp_path / "run").exists()


def test_missing_openrlhf_is_one_clear_message(tmp_path, no_submission, monkeypatch):
    real_version = importlib.metadata.version

    def version(name):
        if name == "openrlhf":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(flags_module.importlib.metadata, "version", version)
    result = grpo(tmp_path)
    assert result.exit_code == 2 and "OpenRLHF is not installed" in result.output
    assert "pip install --no-deps openrlhf==0.11.2" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("item", "message"), [
    ("actor.adam.learning_rate=1e-6", "Did you mean --actor.adam.lr"),
    ("actor.adam.lr", "is not key=value"),
    ("train.colocate_all=maybe", "is a switch"),
])
def test_bad_overrides_are_named(tmp_path, no_submission, item, message):
    result = grpo(tmp_path, "--set", item)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "run").exists()


def test_submission_runs_the_written_script(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(launch, "check_address", lambda address, reach: None)
    monkeypatch.setattr(launch.shutil, "which", lambda name: "/usr/bin/ray")
    monkeypatch.setattr(launch.subprocess, "run", lambda args, check: ran.append(args) or
                        type("Done", (), {"returncode": 0})())
    result = grpo(tmp_path, "--address", "10.0.0.1:6379", dry_run=False)
    assert result.exit_code == 0 and "Submitted" in result.output
    assert ran == [["bash", str(tmp_path / "run" / "openrlhf" / "launch.sh")]]


def test_sft_dry_run_is_multi_turn_with_assistant_only_loss(tmp_path, no_submission):
    chats = tmp_path / "trajectories.jsonl"
    chat = [{"role": "system", "content": "S"}, {"role": "user", "content": "Task"},
            {"role": "assistant", "content": "Call"}, {"role": "user", "content": "Loss 3.4"},
            {"role": "assistant", "content": "Call 2"}]
    chats.write_text(json.dumps({"messages": chat, "env_id": "x"}) + "\n")
    result = runner.invoke(app, ["train", "sft", "--backend", "openrlhf", "--model", "M", "--out",
                                 str(tmp_path / "run"), "--trajectories", str(chats), "--dry-run"])
    assert result.exit_code == 0, result.output
    directory = tmp_path / "run" / "openrlhf"
    assert [json.loads(line) for line in (directory / "sft.jsonl").read_text().splitlines()] == [{"messages": chat}]
    submit, command = script_command(directory / "launch.sh")
    assert command[:3] == ["deepspeed", "--module", "openrlhf.cli.train_sft"]
    options = vars(real_parser(flags_module.SFT_ENTRY).parse_args(command[3:]))
    assert options["data.multiturn"] and options["data.apply_chat_template"] and options["data.input_key"] == "messages"
    assert options["adam.lr"] == 5e-6 and options["train.micro_batch_size"] == 2
    assert submit[submit.index("--entrypoint-num-gpus") + 1] == "4"


def test_sft_refuses_trajectories_without_chats(tmp_path, no_submission):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "only a question"}]}) + "\n")
    result = runner.invoke(app, ["train", "sft", "--backend", "openrlhf", "--model", "M",
                                 "--out", str(tmp_path / "run"), "--trajectories", str(bad), "--dry-run"])
    assert result.exit_code == 2 and "no assistant turn" in result.output
    assert not (tmp_path / "run").exists()


def test_prompt_length_is_measured_with_a_local_tokenizer(tmp_path, no_submission):
    pytest.importorskip("transformers")
    from tiny_lm import save_tiny_lm

    model = str(save_tiny_lm(tmp_path / "model"))
    args = ["train", "grpo", "--backend", "openrlhf", "--suite", "smoke", "--model", model, "--dry-run"]
    fits = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert fits.exit_code == 0 and "tokens of --data.max_len 21500" in fits.output
    cut = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--set", "data.max_len=500"])
    assert cut.exit_code == 0 and "over --data.max_len 500: OpenRLHF would cut it" in cut.output


def test_shared_grpo_options_become_openrlhf_flags_and_set_still_wins(tmp_path, no_submission):
    result = grpo(tmp_path, "--batch-size", "2", "--group-size", "4", "--lr", "3e-6", "--kl-coef", "0.04",
                  "--temperature", "0.8", "--set", "train.batch_size=4")
    assert result.exit_code == 0, result.output
    _, command = script_command(tmp_path / "run" / "openrlhf" / "launch.sh")
    options = vars(real_parser(flags_module.GRPO_ENTRY).parse_args(command[3:]))
    assert (options["rollout.batch_size"], options["rollout.n_samples_per_prompt"]) == (2, 4)
    assert (options["actor.adam.lr"], options["algo.kl.init_coef"], options["rollout.temperature"]) == (3e-6, 0.04, 0.8)
    assert options["train.batch_size"] == 4  # --set overrides the derived 2 x 4
    assert "fewer than" not in result.output
    refused = grpo(tmp_path, "--group-size", "1")
    assert refused.exit_code == 2 and "--group-size" in refused.output
