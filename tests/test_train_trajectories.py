"""Trajectory simulation (paper 000, §4.2.2) on the shipped Micro envs: the scripted teacher, the
chat generator's select/cut/splice, resuming a killed run, and the CLI's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import pytest
from typer.testing import CliRunner

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents.llm.agent import DEFAULT_SYSTEM_PROMPT
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.lab.rollout import EpisodeSpec, RolloutEngine
from gymnasium_llmconfig.lab.train import trajectories as traj
from gymnasium_llmconfig.storage import read_jsonl

SMOKE = resolve_suite("smoke")
PAIR = SMOKE.train_pairs[0]


def _best(env_id: str) -> dict:
    env = gymnasium.make(env_id, budget=1)
    return dict(env.unwrapped.problem.best_config)


@pytest.mark.parametrize("budget", [1, 3])
def test_scripted_teacher_ends_at_the_best_config_with_env_observations(budget: int) -> None:
    teacher = traj.ScriptedTeacher("topk", SMOKE)
    spec = EpisodeSpec.from_pair(PAIR, budget, seed=0)
    (record,) = teacher.trajectories([spec])
    assert record["reached_best"] and record["generator"] == "scripted:topk"
    messages = record["messages"]
    assert messages[0] == {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * budget
    env = gymnasium.make(PAIR.target, budget=budget, demos=list(PAIR.demos))
    observation, _ = env.reset(seed=0)
    assert messages[1]["content"] == observation  # user turns are exactly what the env says
    for k in range(budget):
        reply = messages[2 + 2 * k]["content"]
        assert '"name": "exec_config"' in reply and reply.split("\n")[0]  # a rationale, then the call
        feedback, *_ = env.step(reply)
        if k + 1 < budget:
            assert messages[3 + 2 * k]["content"] == feedback
    calls = [json.loads(m["content"].split("\n")[-1])["arguments"] for m in messages[2::2]]
    assert _best(PAIR.target) in calls and len({json.dumps(c) for c in calls}) == budget
    assert "lower-fidelity" in messages[2]["content"]  # the first rationale cites the demonstrations
    for k, reply in enumerate(messages[2::2]):
        reasoning, call = reply["content"].split("\n")
        assert json.dumps(json.loads(call)["arguments"])[1:-1] not in reasoning  # values only in the call
        if k:  # later turns cite the feedback: the previous trial's result and the best trial
            assert reasoning.startswith(f"Trial {k} gave ") and "The best so far is " in reasoning


class HintFollower:
    """A chat backend that proposes the worst untried configs, except when told the best one."""

    name = "hint-follower"

    def __init__(self, configs: list[dict]):
        self.configs = configs

    def generate(self, messages, max_new_tokens, temperature, seed) -> str:
        last = messages[-1]["content"]
        if "(Guidance for this trajectory" in last:
            best = json.loads(last.split("best configuration of this environment is ", 1)[1].split("}", 1)[0] + "}")
            return "Following the guidance. " + json.dumps({"name": "exec_config", "arguments": best})
        turn = sum(m["role"] == "assistant" for m in messages)
        return "Exploring. " + json.dumps({"name": "exec_config", "arguments": self.configs[turn]})


def _worst_configs(env_id: str, n: int) -> list[dict]:
    problem = gymnasium.make(env_id, budget=1).unwrapped.problem
    return [dict(c) for c, _ in problem.top_configs(len(problem.space.enumerate()))[-n:]]


def test_splice_keeps_the_prefix_and_reaches_the_best_config() -> None:
    budget = 3
    backend = HintFollower(_worst_configs(PAIR.target, budget))
    generator = traj.ChatGenerator(backend, "chat:hint-follower", rollouts=2, temperature=0.0)
    spec = EpisodeSpec.from_pair(PAIR, budget, seed=0)
    rollouts = RolloutEngine(backend, temperature=0.0).play([spec, spec])
    assert not any(r.infos[-1]["normalized_regret"] == 0.0 for r in rollouts)  # all fail: splice needed
    record = generator.from_rollouts(spec, rollouts)
    assert record["simulated"] and record["reached_best"]
    base = traj.local_best(rollouts)
    replies = [m["content"] for m in record["messages"] if m["role"] == "assistant"]
    keep = next(k for k, reply in enumerate(replies) if reply.startswith("Following the guidance"))
    assert keep in (budget - 1, budget - 2)  # cut before the last or the second-to-last trial
    assert record["messages"][: 2 + 2 * keep] == base.messages[: 2 + 2 * keep]  # the prefix is kept verbatim
    assert not any("(Guidance" in m["content"] for m in record["messages"])  # the hint is never trained on
    assert json.loads(record["messages"][-1]["content"].split("guidance. ", 1)[1])["arguments"] == _best(PAIR.target)


class Dies:
    """A generator that raises after ``k`` samples, standing in for a kill."""

    def __init__(self, inner: traj.ScriptedTeacher, k: int):
        self.inner, self.k, self.name = inner, k, inner.name

    def trajectories(self, specs):
        if self.k == 0:
            raise KeyboardInterrupt
        self.k -= 1
        return self.inner.trajectories(specs)


def test_a_killed_run_resumes_without_duplicates(tmp_path: Path) -> None:
    teacher = traj.ScriptedTeacher("topk", SMOKE)
    with pytest.raises(KeyboardInterrupt):
        traj.run(Dies(teacher, 3), SMOKE, tmp_path, [1, 2], [0])
    assert len(read_jsonl(tmp_path / traj.TRAJECTORIES)) == 3
    with (tmp_path / traj.TRAJECTORIES).open("a") as f:
        f.write('{"env_id": "LLMConfig-Micro')  # a line torn by the kill
    with pytest.raises(InvalidArgument, match="incomplete"):
        traj.check_trajectories(tmp_path / traj.TRAJECTORIES, "smoke")
    calls = []
    counting = Dies(teacher, 100)
    counting.trajectories = lambda specs: calls.append(specs) or teacher.trajectories(specs)
    traj.run(counting, SMOKE, tmp_path, [1, 2], [0])
    records = read_jsonl(tmp_path / traj.TRAJECTORIES)
    keys = [traj.key(r) for r in records]
    assert len(keys) == len(set(keys)) == len(SMOKE.train_pairs) * 2 and len(calls) == len(keys) - 3
    assert traj.check_trajectories(tmp_path / traj.TRAJECTORIES, "smoke").samples == len(keys)
    with pytest.raises(InvalidArgument, match="another run"):
        traj.run(teacher, SMOKE, tmp_path, [1, 2, 3], [0])
    with pytest.raises(InvalidArgument, match="suite 'smoke', not 'l2h'"):
        traj.check_trajectories(tmp_path / traj.TRAJECTORIES, "l2h")


def test_cli_writes_trajectories_and_refuses_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["train", "trajectories", "--suite", "smoke", "--teacher", "topk", "--budgets", "1",
                                 "--out", str(tmp_path / "t"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(tmp_path / "t" / traj.TRAJECTORIES)) == len(SMOKE.train_pairs)
    assert json.loads((tmp_path / "t" / traj.MANIFEST).read_text())["generator"] == "scripted:topk"
    for args, message in [
        (["--suite", "nope"], "nope"),
        (["--suite", "smoke", "--teacher", "no-such-agent"], "no-such-agent"),
        (["--suite", "smoke", "--base-url", "http://127.0.0.1:1/v1"], "--base-url needs --model"),
        (["--suite", "smoke", "--model", str(tmp_path / "missing-model")], "does not exist"),
    ]:
        result = runner.invoke(app, ["train", "trajectories", *args, "--out", str(tmp_path / "x"), "--no-progress"])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output


def test_a_reply_that_copies_a_demonstration_names_it_at_its_best_rank() -> None:
    (record,) = traj.ScriptedTeacher("topk", SMOKE).trajectories([EpisodeSpec.from_pair(PAIR, 3, seed=0)])
    card = gymnasium.make(PAIR.target, budget=3, demos=list(PAIR.demos)).unwrapped.card
    space = card.space
    cited = 0
    for reply in record["messages"][2::2]:
        reasoning, call = reply["content"].split("\n")
        text = space.canonical_text(json.loads(call)["arguments"])
        places = sorted((rank, k) for k, d in enumerate(card.demonstrations)
                        for rank, (config, _) in enumerate(d.configs, start=1) if space.canonical_text(config) == text)
        if places:  # topk replays demonstrations: the reply says which line it copies, at its best rank
            rank, k = places[0]
            assert f"the #{rank} configuration of the {card.demonstrations[k].fidelity.name} results" in reasoning
            cited += 1
    assert cited >= 2
