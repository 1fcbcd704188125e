"""The low-to-high protocol: fidelity ladders, demonstrations in the prompt, pairs and suites."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import pytest
from typer.testing import CliRunner

import gymnasium_llmconfig  # noqa: F401
from gymnasium_llmconfig import LMConfigGym
from gymnasium_llmconfig.config_space import format_value
from gymnasium_llmconfig.curation import auto_demo_ids, fidelity_ladder, resolve_demo_ids, resolve_suite
from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.registry import RegistryError, _load, load_registry

HIGH = "LLMConfig-Pretrain-N1.07B-D20B-v0"


def _true_top(env_id: str, k: int) -> list[tuple[dict, float]]:
    """Top-k of a table by evaluating every config (independent of Problem.top_configs)."""
    problem = gymnasium.make(env_id).unwrapped.problem
    scored = [(c, problem.evaluate(c).metric) for c in problem.space.enumerate()]
    sign = 1 if problem.task.direction == "minimize" else -1
    return sorted(scored, key=lambda cv: sign * cv[1])[:k]


def test_fidelity_ladder_follows_the_registry_roles() -> None:
    ladder = fidelity_ladder("Mixture")
    assert ladder == {"low": ["LLMConfig-Mixture-Qwen0.5B-v0"], "medium": ["LLMConfig-Mixture-Qwen3B-v0"],
                      "high": ["LLMConfig-Mixture-Qwen7B-v0"]}
    pretrain = fidelity_ladder("Pretrain")
    assert HIGH in pretrain["high"] and auto_demo_ids(HIGH) == pretrain["medium"]
    assert auto_demo_ids(pretrain["medium"][0]) == pretrain["low"] and auto_demo_ids(pretrain["low"][0]) == []


@pytest.mark.parametrize("top_k", [1, 3])
def test_demos_in_a_high_prompt_are_the_true_top_k_of_the_medium_envs(top_k: int) -> None:
    prompt, _ = gymnasium.make(HIGH, top_k=top_k).reset(seed=0)
    card = gymnasium.make(HIGH, top_k=top_k).unwrapped.card
    mediums = fidelity_ladder("Pretrain")["medium"]
    assert [d.env_id for d in card.demonstrations] == mediums
    context = prompt.split("# Context", 1)[1].split("# Instructions", 1)[0]
    for demo, env_id in zip(card.demonstrations, mediums, strict=True):
        top = _true_top(env_id, top_k)
        assert [v for _, v in demo.configs] == [v for _, v in top]
        block = context.split(f"experiment: {demo.fidelity.name} (", 1)[1]
        for rank, (config, value) in enumerate(top, start=1):
            line = f"  {rank}. {card.space.canonical_text(config)} -> {card.task.metric_name} = {format_value(value)}"
            assert line in block
        assert f"  {top_k + 1}. " not in block.split("\n\n", 1)[0]


def test_demo_options() -> None:
    assert gymnasium.make(HIGH, demos=None).unwrapped.card.demonstrations == ()
    low = fidelity_ladder("Pretrain")["low"][0]
    explicit = gymnasium.make(HIGH, demos=[low], top_k=2).unwrapped.card.demonstrations
    assert [d.env_id for d in explicit] == [low] and len(explicit[0].configs) == 2
    with pytest.raises(ValueError, match="is a Mixture env"):
        resolve_demo_ids(HIGH, ["LLMConfig-Mixture-Qwen3B-v0"])
    with pytest.raises(ValueError, match="its own demonstration"):
        resolve_demo_ids(HIGH, HIGH)
    with pytest.raises(KeyError, match="Closest ids"):
        resolve_demo_ids(HIGH, ["LLMConfig-Pretrain-N1.07B-D21B-v0"])
    with pytest.raises(ValueError, match="top_k"):
        gymnasium.make(HIGH, top_k=0)


def test_demos_keep_names_hidden_like_their_env() -> None:
    hidden, _ = gymnasium.make("LLMConfig-Mixture-Qwen7B-v0").reset(seed=0)
    shown, _ = gymnasium.make("LLMConfig-Mixture-Qwen7B-v0", reveal_names=True).reset(seed=0)
    assert "lower-fidelity" in hidden and "qwen" not in hidden.lower() and "source_01" in hidden
    assert "Qwen2.5-3B" in shown and "coconot_converted" in shown.split("# Context")[1].split("Configuration space")[0]


def test_l2h_suite_is_the_papers_one_to_many_pairs() -> None:
    suite = resolve_suite("l2h")
    registry = load_registry()
    for task in ("Pretrain", "Mixture", "PileMix"):
        ladder = fidelity_ladder(task)
        assert set(ladder["low"] + ladder["medium"]) <= set(suite.train) and set(ladder["high"]) <= set(suite.test)
        train = {p.target: p.demos for p in suite.train_pairs if registry.env(p.target)[0].name == task}
        test = {p.target: p.demos for p in suite.test_pairs if registry.env(p.target)[0].name == task}
        assert train == {m: tuple(ladder["low"]) for m in ladder["medium"]}
        assert test == {h: tuple(ladder["medium"]) for h in ladder["high"]}
    assert not set(suite.train) & set(suite.test)
    assert LMConfigGym().init_datasets("l2h") == {"train": list(suite.train), "test": list(suite.test)}


def test_unregistered_suite_tasks_are_skipped_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text("suites:\n  later: {tasks: [NotYetCollected], train_roles: [low], test_roles: [high]}\n")
    with pytest.warns(UserWarning, match="'NotYetCollected' is not registered"):
        suite = resolve_suite("later", _load((path,)))
    assert suite.train == suite.test == () and "NotYetCollected" in suite.notes[0]
    with pytest.raises(KeyError, match="suites are"):
        resolve_suite("nope")


def test_smoke_suite_is_the_shipped_micro_and_grpo_tasks() -> None:
    suite = resolve_suite("smoke")
    assert suite.test and all(e.startswith(("LLMConfig-Micro-", "LLMConfig-GRPO-")) for e in suite.train + suite.test)
    assert {e.split("-")[1] for e in suite.test} == {"Micro", "GRPO"}
    assert not suite.notes


def test_suite_roles_are_validated(tmp_path: Path) -> None:
    bad = tmp_path / "registry.yaml"
    bad.write_text("suites:\n  s: {tasks: [Pretrain], train_roles: [low], test_roles: [top]}\n")
    with pytest.raises(RegistryError, match="test_roles must be among"):
        _load((bad,))
    bad.write_text("suites:\n  s: {tasks: Pretrain}\n")
    assert _load((bad,)).suites["s"].tasks == ("Pretrain",)


def test_cli_lists_suites() -> None:
    result = CliRunner().invoke(app, ["suites"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "l2h" in result.output and "smoke" in result.output and "all" in result.output
    l2h = resolve_suite("l2h")
    row = next(line for line in result.output.splitlines() if " l2h " in line)
    assert str(len(l2h.train)) in row and str(len(l2h.test)) in row
