"""Trajectory simulation (paper 000, §4.2.2): successful multi-turn chats on the training samples.

A training sample is a medium env with its low envs as demonstrations
(``resolve_suite(suite).train_pairs``) at a budget T in 1..5 and a seed. Two
kinds of generator write trajectories:

- a **scripted teacher**: a zoo agent (default ``fidelity-transfer``) plays the
  real env; its last trial is replaced by the env's best config when it has not
  found it yet, so every trajectory ends at the optimum; each assistant turn is a
  short rationale citing the demonstrations and the feedback so far, then the
  ``exec_config`` call. For machines without a strong model.
- a **chat generator** (any :mod:`agents.llm` backend): N rollouts at temperature
  0.8 through the shared :class:`~gymnasium_llmconfig.lab.rollout.RolloutEngine`;
  those that reach the best config are kept; where all fail, the local-best one is
  cut before its last or second-to-last trial and the generator, told the best
  configuration, continues it; prefix and continuation are spliced.

Either way the system message is ``llm-prompt``'s and every user turn is exactly
what the env said, so SFT trains on what the agent sees at test time. Records go
to ``OUT/trajectories.jsonl`` (append-only, fsync'd: a killed run resumes without
redoing or duplicating a sample) beside a manifest ``OUT/trajectories.meta.json``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium

from agents.llm.agent import TurnRecord
from agents.llm.backend import ChatBackend, Message
from agents.llm.chat_format import first_messages
from gymnasium_llmconfig.curation import Suite
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.rollout import EpisodeSpec, Rollout, RolloutEngine
from gymnasium_llmconfig.parsing import TOOL_NAME, parse_action
from gymnasium_llmconfig.storage import JsonlAppender, atomic_write, read_jsonl

TRAJECTORIES = "trajectories.jsonl"
MANIFEST = "trajectories.meta.json"
#: A trajectory's identity: one per (env, budget, seed, generator) in a file.
KEY_FIELDS = ("env_id", "budget", "seed", "generator")


@dataclass(frozen=True)
class Manifest:
    """What a trajectories file holds, so ``train sft`` can refuse a foreign or unfinished one."""

    suite: str
    generator: str
    budgets: tuple[int, ...]
    seeds: tuple[int, ...]
    samples: int

    def write(self, out: Path) -> None:
        atomic_write(out / MANIFEST, lambda f: json.dump(asdict(self), f, indent=1))

    @classmethod
    def read(cls, out: Path) -> Manifest | None:
        path = out / MANIFEST
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(data["suite"], data["generator"], tuple(data["budgets"]), tuple(data["seeds"]),
                   int(data["samples"]))


def training_specs(suite: Suite, budgets: Iterable[int], seeds: Iterable[int]) -> list[EpisodeSpec]:
    """Every training sample: each train pair (medium target, low demos) x budget x seed."""
    return [EpisodeSpec.from_pair(pair, budget, seed) for pair in suite.train_pairs for budget in budgets
            for seed in seeds]


def key(record: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(record[name] for name in KEY_FIELDS)


def _call(config: Mapping[str, Any]) -> str:
    """The tool call the env's instructions ask for."""
    return json.dumps({"name": TOOL_NAME, "arguments": dict(config)}, default=str)


def _record(spec: EpisodeSpec, generator: str, messages: Sequence[Message], infos: Sequence[Mapping[str, Any]],
            rewards: Sequence[float], simulated: bool) -> dict[str, Any]:
    last = infos[-1] if infos else {}
    return {
        "env_id": spec.env_id, "budget": spec.budget, "seed": spec.seed, "generator": generator,
        "demos": list(spec.demos or ()), "simulated": simulated,
        "reached_best": last.get("normalized_regret") == 0.0,
        "return": float(sum(rewards)), "messages": [dict(m) for m in messages],
    }


# -- the scripted teacher ------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _demo_source(card: Any, space_text: Callable[[Mapping[str, Any]], str], text: str) -> str | None:
    """Where the prompt shows ``text`` among the demonstrations: "the #k configuration of the F results",
    at its best rank (a config several demo envs share is cited where it ranks highest, then the first shown)."""
    places = [(rank, k, demo.fidelity.name) for k, demo in enumerate(card.demonstrations)
              for rank, (config, _) in enumerate(demo.configs, start=1) if space_text(config) == text]
    if not places:
        return None
    rank, _, fidelity = min(places)
    return f"the #{rank} configuration of the {fidelity} results"


def rationale(card: Any, space_text: Callable[[Mapping[str, Any]], str], infos: Sequence[Mapping[str, Any]],
              proposal: Mapping[str, Any], final: bool) -> str:
    """A short reasoning that cites the demonstrations (first turn) or the feedback so far (later turns).

    It explains the teacher's choice in the terms the prompt gives the model (the
    lower-fidelity results, the best trial so far, the budget left) and refers to
    configurations by their place in the prompt (demonstration rank, trial number)
    instead of restating them: the call that follows carries the values. A reply that
    names the demonstration it copies is something a small model can learn to do
    (find that line, copy it); one that repeats a 17-weight mixture three times
    teaches it to ramble, and "an untried configuration near the best" without a
    source teaches it to repeat the last one.
    """
    source = _demo_source(card, space_text, space_text(proposal))
    if not infos:
        demos = [d for d in card.demonstrations if d.configs]
        if not demos:
            return "There are no lower-fidelity results to transfer, so I start from a central configuration."
        best = f"The best lower-fidelity result ({demos[0].fidelity.name}) is {_fmt(demos[0].configs[0][1])}."
        if source:
            return f"{best} Optima move little between nearby fidelities, so I start from {source}."
        return f"{best} The optimum shifts with scale, so I extrapolate the top configurations to this fidelity."
    name = infos[-1].get("metric_name") or "the metric"
    last = infos[-1]
    parts = []
    if last.get("metric") is not None:
        parts.append(f"Trial {len(infos)} gave {name} {_fmt(last['metric'])}.")
    if last.get("best_metric") is not None:
        trial = next((k for k, i in enumerate(infos, start=1) if i.get("metric") == last["best_metric"]), None)
        parts.append(f"The best so far is {_fmt(last['best_metric'])}" + (f" (trial {trial})." if trial else "."))
    left = int(last.get("budget_left") or 0)
    if source:
        why = f"{left} trial(s) left: I run {source}, not tried yet."
    elif final or left <= 1:
        why = "This is the last trial, so I run the configuration I expect to be best."
    else:
        why = f"{left} trials left: I try an untried configuration near the best results."
    return " ".join([*parts, why])


def play_scripted(env: gymnasium.Env, agent: Any, spec: EpisodeSpec, generator: str) -> dict[str, Any]:
    """One teacher episode in the real env, ending at the env's best config (see the module docstring)."""
    problem = env.unwrapped.problem
    space = problem.space
    observation, _ = env.reset(seed=spec.seed)
    card = env.unwrapped.card
    agent.reset(card, seed=spec.seed)
    messages = first_messages(observation)
    infos: list[dict[str, Any]] = []
    rewards: list[float] = []
    simulated = False
    best = dict(problem.best_config)
    for turn in range(spec.budget):
        proposal = parse_action(agent.act(observation)).config or {}
        final = turn == spec.budget - 1
        found = bool(infos) and infos[-1].get("normalized_regret") == 0.0
        if final and not found and space.canonical_text(proposal) != space.canonical_text(best):
            proposal, simulated = best, True
        reply = rationale(card, space.canonical_text, infos, proposal, final) + "\n" + _call(proposal)
        observation, reward, terminated, truncated, info = env.step(reply)
        agent.observe(observation, reward, info)
        messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": observation}]
        infos.append(info)
        rewards.append(float(reward))
        if terminated or truncated:
            break
    return _record(spec, generator, messages[:-1], infos, rewards, simulated)


def fit_envs(suite: Suite, target: str) -> list[str]:
    """The suite's training envs a teacher may learn from for ``target``: the same task and
    fidelity ladder, never the target itself (the low-to-high protocol never shows an agent its
    target's table). Other tasks would not change a per-task learner and cost minutes to fit."""
    from gymnasium_llmconfig.registry import load_registry

    registry = load_registry()
    task, fidelity = registry.env(target)

    def same(env_id: str) -> bool:
        other_task, other = registry.env(env_id)
        return other_task.name == task.name and other.ladder == fidelity.ladder

    return [e for e in suite.train if e != target and same(e)]


class ScriptedTeacher:
    """A zoo agent as trajectory generator; a learning agent is fitted per target (:func:`fit_envs`)."""

    def __init__(self, agent: str, suite: Suite, agent_kwargs: Mapping[str, Any] | None = None,
                 env_kwargs: Mapping[str, Any] | None = None):
        from agents.zoo import make_agent

        self.agent_name, self.suite = agent, suite
        self.agent_kwargs, self.env_kwargs = dict(agent_kwargs or {}), dict(env_kwargs or {})
        self._make = make_agent
        self.name = f"scripted:{agent}"
        self._fitted: tuple[str, Any] | None = None

    def _agent_for(self, target: str) -> Any:
        if self._fitted is not None and self._fitted[0] == target:
            return self._fitted[1]
        agent = self._make(self.agent_name, **self.agent_kwargs)
        if callable(getattr(agent, "fit", None)):
            from gymnasium_llmconfig.training_data import TrainingSet

            agent.fit(TrainingSet.from_env_ids(fit_envs(self.suite, target)))
        self._fitted = (target, agent)
        return agent

    def trajectories(self, specs: Sequence[EpisodeSpec]) -> list[dict[str, Any]]:
        out = []
        for spec in specs:
            env = gymnasium.make(spec.env_id, budget=spec.budget, demos=list(spec.demos or ()), **self.env_kwargs)
            try:
                out.append(play_scripted(env, self._agent_for(spec.env_id), spec, self.name))
            finally:
                env.close()
        return out


# -- chat generators: sample, select, cut and splice --------------------------------------------------

HINT = ("(Guidance for this trajectory: the best configuration of this environment is {best}. Continue toward "
        "it and run it within the remaining budget.)")


def _reached_best(rollout: Rollout) -> bool:
    return bool(rollout.infos) and rollout.infos[-1].get("normalized_regret") == 0.0


def local_best(rollouts: Sequence[Rollout]) -> Rollout:
    """The rollout with the lowest regret (ties: the higher return, then the earliest)."""
    return min(rollouts, key=lambda r: (r.normalized_regret, -r.episode_return))


def cut_point(rollout: Rollout, rng: random.Random) -> int:
    """How many of the rollout's turns to keep: all but its last or its second-to-last trial onward."""
    turns = len(rollout.record.turns)
    return max(0, turns - rng.choice((1, 2)))


def splice(rollout: Rollout, keep: int, backend: ChatBackend, best: Mapping[str, Any], space_text: Callable,
           max_new_tokens: int, temperature: float, env_kwargs: Mapping[str, Any] | None = None,
           ) -> tuple[list[Message], list[dict[str, Any]], list[float]]:
    """Replay the first ``keep`` turns of ``rollout`` in a fresh env, then let ``backend`` continue,
    told the best configuration; the hint is in the prompt only, never in the returned transcript."""
    spec = rollout.spec
    env = gymnasium.make(spec.env_id, budget=spec.budget, demos=list(spec.demos or ()), **dict(env_kwargs or {}))
    try:
        observation, _ = env.reset(seed=spec.seed)
        messages = list(rollout.messages[: 2 + 2 * keep])  # system, task, then (reply, feedback) per kept turn
        infos, rewards = list(rollout.infos[:keep]), list(rollout.rewards[:keep])
        for turn in rollout.record.turns[:keep]:
            env.step(turn.action)
        hint = HINT.format(best=space_text(best))
        going = not infos or infos[-1].get("budget_left", 1) > 0
        turn = keep
        while going:
            prompt = [*messages[:-1], {"role": "user", "content": messages[-1]["content"] + "\n\n" + hint}]
            seed = None if temperature <= 0 else spec.seed + turn
            reply = backend.generate(prompt, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed) or ""
            record = TurnRecord.from_reply(messages[-1]["content"], reply)
            observation, reward, terminated, truncated, info = env.step(record.action)
            messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": observation}]
            infos.append(info)
            rewards.append(float(reward))
            going, turn = not (terminated or truncated), turn + 1
        return messages[:-1], infos, rewards
    finally:
        env.close()


class ChatGenerator:
    """N sampled rollouts per sample with a chat backend; successes kept, else one spliced trajectory."""

    def __init__(self, backend: ChatBackend, name: str, rollouts: int = 20, temperature: float = 0.8,
                 max_new_tokens: int = 512, env_kwargs: Mapping[str, Any] | None = None):
        if rollouts < 1:
            raise InvalidArgument(f"--rollouts must be at least 1, got {rollouts}")
        self.backend, self.name, self.n = backend, name, int(rollouts)
        self.temperature, self.max_new_tokens = float(temperature), int(max_new_tokens)
        self.env_kwargs = dict(env_kwargs or {})
        self.engine = RolloutEngine(backend, max_new_tokens=max_new_tokens, temperature=temperature,
                                    env_kwargs=env_kwargs)

    def trajectories(self, specs: Sequence[EpisodeSpec]) -> list[dict[str, Any]]:
        out = []
        for spec in specs:
            group = [EpisodeSpec(spec.env_id, spec.budget, spec.seed, spec.demos, spec.seed * 1000 + k)
                     for k in range(self.n)]
            out.append(self.from_rollouts(spec, self.engine.play(group)))
        return out

    def from_rollouts(self, spec: EpisodeSpec, rollouts: Sequence[Rollout]) -> dict[str, Any]:
        """One trajectory for ``spec``: the first successful rollout, else the spliced local best.

        One per sample keeps the key (env, budget, seed, generator) unique; the successes of
        the other rollouts would be near-duplicates of the kept one at T <= 5.
        """
        for rollout in rollouts:
            if _reached_best(rollout):
                return _record(spec, self.name, rollout.messages[:-1], rollout.infos, rollout.rewards, False)
        base = local_best(rollouts)
        space = base.problem.space
        keep = cut_point(base, random.Random(hash(key(_record(spec, self.name, [], [], [], False))) & 0xFFFF))
        messages, infos, rewards = splice(base, keep, self.backend, base.problem.best_config, space.canonical_text,
                                          self.max_new_tokens, self.temperature, self.env_kwargs)
        return _record(spec, self.name, messages, infos, rewards, True)


# -- the resumable run ---------------------------------------------------------------------------------


def run(generator: Any, suite: Suite, out: Path, budgets: Sequence[int], seeds: Sequence[int],
        progress: Callable[[int, int], None] | None = None) -> Path:
    """Write every training sample's trajectory to ``out/trajectories.jsonl``, skipping finished ones.

    The manifest is written first; a rerun with another suite, generator, budgets or seeds
    into the same ``out`` is refused (it would mix two datasets in one file).
    """
    out = Path(out)
    specs = training_specs(suite, budgets, seeds)
    manifest = Manifest(suite.name, generator.name, tuple(budgets), tuple(seeds), len(specs))
    existing = Manifest.read(out)
    if existing is not None and existing != manifest:
        raise InvalidArgument(
            f"{out} already holds trajectories of another run ({asdict(existing)}); use a new --out, or the same "
            "--suite/--teacher/--budgets/--seeds to resume it."
        )
    manifest.write(out)
    done = {key(r) for r in read_jsonl(out / TRAJECTORIES)}
    pending = [s for s in specs if _key_of(s, generator) not in done]
    finished = len(specs) - len(pending)
    if progress:
        progress(finished, len(specs))
    # one target's samples together: a fitted teacher is reused across its budgets and seeds
    pending.sort(key=lambda s: (s.env_id, s.budget, s.seed))
    with JsonlAppender(out / TRAJECTORIES, owner="`llmconfig train trajectories`") as log:
        for spec in pending:
            for record in generator.trajectories([spec]):
                log.append(record)
            finished += 1
            if progress:
                progress(finished, len(specs))
    return out / TRAJECTORIES


def _key_of(spec: EpisodeSpec, generator: Any) -> tuple[Any, ...]:
    return (spec.env_id, spec.budget, spec.seed, generator.name)


def check_trajectories(path: Path, suite: str) -> Manifest:
    """The manifest of a finished trajectories file of ``suite``; one clear error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"trajectories file {path} does not exist; write it with "
                              f"`llmconfig train trajectories --suite {suite} --out DIR` "
                              f"(it lands in DIR/{TRAJECTORIES})")
    manifest = Manifest.read(path.parent)
    if manifest is None:
        raise InvalidArgument(f"{path.parent / MANIFEST} is missing, so {path} cannot be checked against the suite; "
                              "write trajectories with `llmconfig train trajectories`")
    if manifest.suite != suite:
        raise InvalidArgument(f"{path} holds trajectories of suite {manifest.suite!r}, not {suite!r}; pass "
                              f"--suite {manifest.suite} or trajectories of {suite!r}")
    records = {key(r) for r in read_jsonl(path)}
    if len(records) < manifest.samples:
        raise InvalidArgument(f"{path} is incomplete ({len(records)} of {manifest.samples} samples); re-run the same "
                              "`llmconfig train trajectories` command to finish it")
    return manifest
