"""Policy distillation: the assistant-only mask, trajectories -> SFT -> checkpoint -> llm-prompt, and refusals.

Everything runs on a tiny random ChatML LM built in the test (``tiny_lm``); one slow test
fine-tunes the packaged SmolLM2-135M-Instruct for two steps on real teacher trajectories.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import gymnasium
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("trl")

from conftest import require_smollm2
from tiny_lm import save_tiny_lm, tiny_tokenizer

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents.base import run_episode
from agents.llm.chat_format import TurnFormat, encode, render
from agents.zoo import make_agent
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.lab.train import trajectories as traj
from gymnasium_llmconfig.lab.train.sft import RECIPE, SFTRecipe, encode_chat, select, train_sft
from gymnasium_llmconfig.storage import read_jsonl

SMOKE = resolve_suite("smoke")


def test_the_mask_covers_exactly_the_assistant_tokens_of_a_two_turn_chat() -> None:
    tokenizer = tiny_tokenizer()
    turns = TurnFormat(tokenizer)
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Task: pick lr."},
            {"role": "assistant", "content": 'Try {"lr": 0.001}'}, {"role": "user", "content": "loss 3.45"},
            {"role": "assistant", "content": 'Then {"lr": 0.002}'}]
    ids, mask = encode_chat(tokenizer, turns, chat)
    whole = encode(tokenizer, render(tokenizer, chat, add_generation_prompt=False))
    assert ids == whole[: len(ids)] and tokenizer.decode(whole[len(ids):]) == "\n"  # the template, turn by turn
    # by hand: the two replies and the <|im_end|> that closes each, nothing else
    expected: list[int] = []
    for reply in ('Try {"lr": 0.001}', 'Then {"lr": 0.002}'):
        expected += [*encode(tokenizer, reply), tokenizer.convert_tokens_to_ids("<|im_end|>")]
    assert [t for t, m in zip(ids, mask, strict=True) if m] == expected
    assert tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m]) == (
        'Try {"lr": 0.001}<|im_end|>Then {"lr": 0.002}<|im_end|>')
    masked_out = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert "Task: pick lr." in masked_out and "loss 3.45" in masked_out and "Be brief." in masked_out


def test_select_spreads_over_envs_and_filters_budgets() -> None:
    records = [{"env_id": e, "budget": b, "seed": 0} for e in "abc" for b in (1, 2, 3)]
    picked = select(records, (2, 3), 3, seed=0)
    assert sorted(r["env_id"] for r in picked) == ["a", "b", "c"] and all(r["budget"] in (2, 3) for r in picked)
    assert select(records, None, None, seed=0) == records


@pytest.fixture(scope="module")
def smoke_trajectories(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("traj")
    return traj.run(traj.ScriptedTeacher("topk", SMOKE), SMOKE, out, [1, 2], [0])


def test_trajectories_to_sft_to_a_checkpoint_that_llm_prompt_plays(smoke_trajectories: Path, tmp_path: Path) -> None:
    base = save_tiny_lm(tmp_path / "base")
    recipe = SFTRecipe(trajectories=(str(smoke_trajectories),), suite="smoke", model=str(base), epochs=1,
                       grad_accum=2, learning_rate=1e-3, device="cpu", max_length=8192)
    out = train_sft(recipe, tmp_path / "sft", progress=False)
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert not (out / ".checkpoints").exists() and not (out / ".final.tmp").exists()
    stats = json.loads((out / RECIPE).read_text())["stats"]
    samples = 2 * len(SMOKE.train_pairs)  # budgets 1-2; grad_accum 2 -> one step per pair
    assert stats["trajectories"] == samples and stats["steps"] == samples // 2 and stats["dtype"] == "torch.float32"
    agent = make_agent("llm-prompt", model=str(out), max_new_tokens=8, temperature=0.0, device="cpu")
    env = gymnasium.make("LLMConfig-Micro-M-D750K-v0", budget=2, on_invalid="penalize")
    infos = run_episode(env, agent, seed=0)
    assert len(infos) == 2 and agent.record.model == str(out)
    assert train_sft(recipe, out, progress=False) == out  # finished: a rerun does nothing


def test_lora_is_merged_into_the_saved_weights(smoke_trajectories: Path, tmp_path: Path) -> None:
    pytest.importorskip("peft")
    base = save_tiny_lm(tmp_path / "base")
    recipe = SFTRecipe(trajectories=(str(smoke_trajectories),), suite="smoke", model=str(base), epochs=1,
                       grad_accum=4, lora=True, lora_r=4, lora_alpha=8, learning_rate=1e-2, device="cpu",
                       max_length=8192, max_trajectories=2)
    out = train_sft(recipe, tmp_path / "sft", progress=False)
    from safetensors.torch import load_file

    names = load_file(out / "model.safetensors").keys()
    assert not any("lora" in n for n in names) and not (out / "adapter_config.json").exists()


def test_cli_refuses_bad_input(smoke_trajectories: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    manifest = json.loads((smoke_trajectories.parent / traj.MANIFEST).read_text())
    (incomplete / traj.MANIFEST).write_text(json.dumps(manifest))
    (incomplete / traj.TRAJECTORIES).write_text(json.dumps(read_jsonl(smoke_trajectories)[0]) + "\n")
    plain = save_tiny_lm(tmp_path / "plain")
    config = json.loads((plain / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config))
    for extra in plain.glob("chat_template.*"):
        extra.unlink()
    cases = [
        (["--trajectories", str(tmp_path / "none.jsonl"), "--suite", "smoke"], "does not exist"),
        (["--trajectories", str(smoke_trajectories)], "suite 'smoke', not 'l2h'"),
        (["--trajectories", str(incomplete / traj.TRAJECTORIES), "--suite", "smoke"],
         f"incomplete (1 of {2 * len(SMOKE.train_pairs)}"),
        (["--trajectories", str(smoke_trajectories), "--suite", "smoke", "--model", str(plain)], "no chat template"),
        (["--trajectories", str(smoke_trajectories), "--suite", "smoke", "--model", "someorg/never-downloaded"],
         "huggingface-cli download"),
        (["--trajectories", str(smoke_trajectories), "--suite", "smoke", "--budgets", "9",
          "--model", str(plain)], "no trajectories left"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["train", "sft", *args, "--out", str(tmp_path / "out"), "--no-progress"])
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()) and "Traceback" not in result.output


@pytest.mark.slow
def test_smollm2_sft_smoke(smoke_trajectories: Path, tmp_path: Path) -> None:
    """Two SFT steps of the packaged SmolLM2-135M-Instruct on two real teacher trajectories."""
    require_smollm2()
    recipe = SFTRecipe(trajectories=(str(smoke_trajectories),), suite="smoke", model="smollm2", epochs=1,
                       grad_accum=1, max_trajectories=2, budgets=(1,), device="cpu", max_length=4096, threads=1)
    out = train_sft(recipe, tmp_path / "sft", progress=False)
    stats = json.loads((out / RECIPE).read_text())["stats"]
    assert stats["steps"] == 2 and stats["loss_first"] > 0
    assert replace(recipe, model=str(out)).model == str(out) and (out / "chat_template.jinja").is_file()
