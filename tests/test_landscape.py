"""``llmconfig landscape``: the right kind of panel per space, the marked optimum is the table's best, files written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import require_data
from typer.testing import CliRunner

from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.lab.landscape import task_panels
from gymnasium_llmconfig.registry import load_problem

MICRO = ["LLMConfig-Micro-S-D250K-v0", "LLMConfig-Micro-L-D750K-v0"]


def test_grid_panels_mark_the_tables_best_config_at_its_best_cell() -> None:
    panels = task_panels(MICRO)
    for panel in panels:
        problem = load_problem(panel.env_id)
        assert panel.kind == "grid" and (panel.x_label, panel.y_label) == ("lr", "batch_size")
        assert panel.optimum == problem.best_config and panel.optimum_value == problem.best_value
        at = (panel.x == panel.optimum_xy[0]) & (panel.y == panel.optimum_xy[1])
        assert panel.values[at].tolist() == [problem.best_value]
        assert len(panel.values) == len(problem.space) == 40  # 10 LRs x 4 batch sizes, one run per cell
        assert (len(panel.x_ticks), len(panel.y_ticks)) == (10, 4)


def test_pretrain_grid_takes_the_best_over_other_parameters_and_the_stated_axes() -> None:
    require_data("steplaw/dense_lr_bs_loss.csv")
    (panel,) = task_panels(["LLMConfig-Pretrain-N1.07B-D56.9B-v0"], x="bs", y="lr")
    problem = load_problem(panel.env_id)
    assert (panel.x_label, panel.y_label) == ("bs", "lr") and panel.optimum == problem.best_config
    assert panel.values.min() == problem.best_value
    with pytest.raises(ValueError, match="has no parameter 'batch'"):
        task_panels(["LLMConfig-Pretrain-N1.07B-D56.9B-v0"], x="batch")


def test_mixtures_are_embedded_on_shared_axes_and_arch_is_sampled() -> None:
    require_data("admire/admire_ift_runs.csv")
    panels = task_panels(["LLMConfig-Mixture-Qwen3B-v0", "LLMConfig-Mixture-Qwen7B-v0"])
    for panel in panels:
        problem = load_problem(panel.env_id)
        assert panel.kind == "embedding" and panel.optimum == problem.best_config
        assert len(panel.values) == len(problem.space) and panel.values.max() == problem.best_value
        best = int(np.argmax(panel.values))
        assert (panel.x[best], panel.y[best]) == pytest.approx(panel.optimum_xy)
    require_data("hwgpt/perplexity_s.pt")
    (arch,) = task_panels(["LLMConfig-Arch-GPTS-v0"], samples=50)
    assert arch.kind == "scatter" and len(arch.values) == 50 and arch.x_label == "model parameters"
    assert arch.optimum == load_problem("LLMConfig-Arch-GPTS-v0").best_config


def test_cli_writes_one_figure_per_task_and_names_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["landscape", *MICRO, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["landscape_Micro.png"]
    assert (tmp_path / "landscape_Micro.png").read_bytes().startswith(b"\x89PNG")
    bad = runner.invoke(app, ["landscape", "LLMConfig-Micro-XL-v0", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "No LLMConfig env 'LLMConfig-Micro-XL-v0'" in bad.output
