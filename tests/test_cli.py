"""The llmconfig command line, through typer's runner."""

from __future__ import annotations

from typer.testing import CliRunner

from gymnasium_llmconfig.lab.cli import app

runner = CliRunner()


def test_envs_lists_ids_roles_and_values() -> None:
    result = runner.invoke(app, ["envs", "--task", "Mixture"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "LLMConfig-Mixture-Qwen7B-v0" in result.output and "high" in result.output
    assert "0.5938" in result.output  # best avg ID+OOD score at 7B, from the CSV


def test_unknown_task_is_a_clear_error() -> None:
    result = runner.invoke(app, ["envs", "--task", "Pretrian"])
    assert result.exit_code == 2 and "No task named 'Pretrian'" in result.output and "Pretrain" in result.output


def test_play_an_episode() -> None:
    moves = '{"lr": 0.00195, "bs": 128}\nnot json\n{"lr": 0.00276, "bs": 256}\n'
    result = runner.invoke(app, ["play", "LLMConfig-Pretrain-N429M-D50B-v0", "--budget", "2"], input=moves)
    assert result.exit_code == 0, result.output
    assert "Trial 1/2" in result.output and "Invalid proposal" in result.output and "Episode over" in result.output


def test_play_unknown_env_suggests_ids() -> None:
    result = runner.invoke(app, ["play", "LLMConfig-Pretrain-N429M-D51B-v0"])
    assert result.exit_code == 2 and "LLMConfig-Pretrain-N429M-D50B-v0" in result.output


def test_bad_flag_is_rejected_by_typer() -> None:
    result = runner.invoke(app, ["play", "LLMConfig-Pretrain-N429M-D50B-v0", "--budget", "zero"])
    assert result.exit_code == 2 and "budget" in result.output


def test_data_status_and_pull_of_unknown_source() -> None:
    result = runner.invoke(app, ["data", "status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "steplaw-dense" in result.output and "CC BY-NC-SA 4.0" in result.output
    result = runner.invoke(app, ["data", "pull", "nope"])
    assert result.exit_code == 2 and "unknown source" in result.output
