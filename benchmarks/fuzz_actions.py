"""Fuzz the text-action path: random, mutated and adversarial actions through made envs, per task.

Run: ``LLMCONFIG_DATA_DIR=../shared/llmconfig-data python benchmarks/fuzz_actions.py [--quick] [--out FILE.md]``.

Every action goes through ``gymnasium.make(env_id, budget=5, on_invalid=...)``
with ``on_invalid`` "ignore" and "penalize", each without and with
``wrappers.MostSimilarConfig`` (``metric="lcs"`` and ``"numeric"``; the four envs take turns). Families:

- ``valid``: a sampled config as JSON, a fenced block, a tool call (arguments as an
  object or a JSON string), after some free text, or ``{"config_id": k}``;
- ``random``: random printable text (sometimes with braces and quotes mixed in);
- ``mutated``: a valid action with 1-6 characters flipped, deleted or inserted;
- ``adversarial``: NaN/Infinity/-0/1e999, unicode and control characters,
  almost-valid JSON, tool calls with wrong names or arguments, several objects,
  fenced blocks, wrong value types, deep nesting (10,000 levels) and, rarely,
  huge strings (1 MiB and more).

A step passes when it raises nothing and answers inside the env's contract: an
observation in the ``Text`` observation space, a finite reward, and an ``info``
that says whether the step was valid. On the first failure the script prints the
action and the traceback and exits 1. ``--quick`` runs 400 actions per task.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import string
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

import gymnasium_llmconfig
from gymnasium_llmconfig.data import DataError
from gymnasium_llmconfig.parsing import TOOL_NAME
from gymnasium_llmconfig.registry import load_registry
from gymnasium_llmconfig.storage import atomic_write
from wrappers import MostSimilarConfig

TASKS = ("Pretrain", "Mixture", "PileMix", "Arch", "Micro")
#: (on_invalid, MostSimilarConfig metric or None for no wrapper): the four envs that take turns.
VARIANTS = (("ignore", None), ("penalize", None), ("ignore", "lcs"), ("penalize", "numeric"))
OUTCOMES = ("valid", "matched", "invalid", "repeat")
MIB = 1 << 20
PRINTABLE = string.printable
WEIRD_CHARS = "\x00\x01\x1b\x7f\u00a0\u200b\u200e\u202e\ufeff\ud800\udfff\u0301é中🦙１２８\U0010ffff\r\x0b\x0c"
SPECIAL_NUMBERS = ("NaN", "Infinity", "-Infinity", "-0", "-0.0", "1e999", "-1e999", "1e-999", "9" * 400,
                   "0x10", "1_000", "1e", "--1", "+1", ".5", "5.", "1/2", "null", "true", "[]", "{}",
                   '"1/0"', '"0/0"', '"2^99999"', '"10**400"', '"-8^0.5"', '"1e999"', '"nan"', '"-inf"', '"5K"')
Generator = Callable[[random.Random], Any]


class Fuzzer:
    """Builds actions for one env's config space from a seeded RNG."""

    def __init__(self, env: gymnasium.Env, seed: int):
        space = env.unwrapped.card.space
        rng = np.random.default_rng(seed)
        self.finite = space.is_finite
        self.size = len(space) if self.finite else 0
        self.names = list(space.names)
        self.configs = [space.sample(rng) for _ in range(64)]
        self.texts = [json.dumps(c) for c in self.configs]
        self._huge: list[str] = []
        self.families: dict[str, tuple[float, list[Generator]]] = {
            "valid": (0.12, [self.valid]),
            "random": (0.15, [self.random_text]),
            "mutated": (0.30, [self.mutated]),
            "adversarial": (0.43, [
                self.special_numbers, self.unicode_text, self.almost_json, self.wrong_tool_call,
                self.several_objects, self.fenced, self.wrong_types, self.deep_nesting, self.config_ids,
            ]),
            "huge": (0.0015, [self.huge]),
        }
        self._names = list(self.families)
        self._weights = [w for w, _ in self.families.values()]

    def draw(self, rng: random.Random) -> tuple[str, Any]:
        family = rng.choices(self._names, self._weights)[0]
        return family, rng.choice(self.families[family][1])(rng)

    # -- families ------------------------------------------------------------------------------------

    def valid(self, rng: random.Random) -> str:
        i = rng.randrange(len(self.configs))
        text, config = self.texts[i], self.configs[i]
        form = rng.randrange(6)
        if form == 0:
            return text
        if form == 1:
            return f"Let me think.\n```json\n{text}\n```"
        if form == 2:
            return json.dumps({"name": TOOL_NAME, "arguments": config})
        if form == 3:
            return json.dumps({"type": "function", "function": {"name": TOOL_NAME, "arguments": text}})
        if form == 4 and self.finite:
            return json.dumps({"config_id": rng.randrange(self.size)})
        return f"I tried {{lr}} before; now {text} is my answer."

    def random_text(self, rng: random.Random) -> str:
        alphabet = PRINTABLE if rng.random() < 0.5 else '{}[]":,0123456789.e-' + "".join(self.names[:3])
        return "".join(rng.choices(alphabet, k=rng.randrange(0, 400)))

    def mutated(self, rng: random.Random) -> str:
        chars = list(self.valid(rng))
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(chars) + 1)
            op = rng.randrange(3)
            if op == 0 and i < len(chars):
                chars[i] = rng.choice(PRINTABLE)
            elif op == 1 and i < len(chars):
                del chars[i]
            else:
                chars.insert(i, rng.choice(PRINTABLE + WEIRD_CHARS))
        return "".join(chars)

    def special_numbers(self, rng: random.Random) -> str:
        config = dict(rng.choice(self.configs))
        key = rng.choice(self.names)
        text = json.dumps(config).replace(f'"{key}": ', f'"{key}": @', 1)
        number = rng.choice(SPECIAL_NUMBERS)
        current = config[key]
        if isinstance(current, list) and current and rng.random() < 0.5:
            inner = json.dumps(current).replace(json.dumps(current[0]), number, 1)
            return text.replace("@" + json.dumps(current), inner, 1)
        return text.replace("@" + json.dumps(current), number, 1)

    def unicode_text(self, rng: random.Random) -> str:
        text = rng.choice(self.texts)
        noise = "".join(rng.choices(WEIRD_CHARS, k=rng.randint(1, 8)))
        form = rng.randrange(4)
        if form == 0:
            i = rng.randrange(len(text))
            return text[:i] + noise + text[i:]
        if form == 1:
            return text.replace('"', rng.choice(['\u201c', '\u201d', '\uff02']), 2)
        if form == 2:
            key = rng.choice(self.names)
            return text.replace(f'"{key}"', json.dumps(key + noise), 1)
        return json.dumps({k: noise for k in self.names}, ensure_ascii=rng.random() < 0.5)

    def almost_json(self, rng: random.Random) -> str:
        text = rng.choice(self.texts)
        key = rng.choice(self.names)
        edits = [
            text[:-1] + ",}", text[:-1], text.replace('"', "'"), text.replace(f'"{key}"', key, 1),
            text.replace(f'"{key}"', f'"{key.upper()}"', 1), text[:-1] + f', "{key}": 1}}',
            text[:-1] + ', "extra": 1}', "{" + text[1:].split(",", 1)[-1], text.replace(":", "=", 1),
            text + " // my answer", "/* c */" + text, text.replace("{", "{{", 1), "{" + text,
            text.replace("true", "True").replace("false", "False").replace('"', "'"),
            "{" + text[1:].replace(", ", ",\n  ") + "\n", text.replace(",", "", 1),
        ]
        return rng.choice(edits)

    def wrong_tool_call(self, rng: random.Random) -> str:
        config = rng.choice(self.configs)
        names: list[Any] = [TOOL_NAME.upper(), TOOL_NAME + " ", "exec_confg", "", None, 7, [TOOL_NAME], {"n": 1}]
        arguments: list[Any] = [config, json.dumps(config), json.dumps(config)[:-1], [config], None, 3, "",
                                "[1, 2]", {"arguments": config}, {}, "NaN", {"config": config}]
        call = {"name": rng.choice([TOOL_NAME, *names]), "arguments": rng.choice(arguments)}
        if rng.random() < 0.3:
            call = {"type": "function", "function": rng.choice([call, json.dumps(call), [call], None])}
        if rng.random() < 0.2:
            call.pop(rng.choice(list(call)))
        return json.dumps(call)

    def several_objects(self, rng: random.Random) -> str:
        parts = [rng.choice(self.texts) if rng.random() < 0.5 else self.almost_json(rng)
                 for _ in range(rng.choice([2, 3, 10, 700]))]
        return rng.choice(["", "\n", " and ", "}{"]).join(parts)

    def fenced(self, rng: random.Random) -> str:
        body = rng.choice([rng.choice(self.texts), self.almost_json(rng), self.wrong_tool_call(rng), ""])
        return rng.choice([
            f"```json\n{body}\n```", f"```json\n{body}", f"```\n```json\n{body}\n```\n```", f"```python\n{body}```",
            f"~~~json\n{body}\n~~~", f"```json\n```\n{body}", f"```json{body}```json",
        ])

    def wrong_types(self, rng: random.Random) -> str:
        config = dict(rng.choice(self.configs))
        key = rng.choice(self.names)
        config[key] = rng.choice([None, True, "", "fast", [], {}, [[1]], {"value": 1}, -1, 0, 2**64,
                                  10**30, -(2**63), 1e308, 1e-308, "1e-3", [None] * 40, list(range(1000))])
        if rng.random() < 0.2:
            config.pop(rng.choice(self.names))
        if rng.random() < 0.1:
            config = {k: config.get(k) for k in reversed(self.names)} | {"": 1, "bias": "yes"}
        return json.dumps(config)

    def deep_nesting(self, rng: random.Random) -> str:
        depth = rng.choice([100, 1000, 10_000])
        key = rng.choice(self.names)
        return rng.choice([
            "[" * depth + "]" * depth, "[" * depth, '{"a":' * depth + "1" + "}" * depth, '{"a":' * depth,
            f'{{"{key}": ' + "[" * depth + "1" + "]" * depth + "}", "{" * depth + "}" * depth,
            json.dumps({"name": TOOL_NAME, "arguments": '{"a":' * depth + "1" + "}" * depth}),
            "{'a': " * depth + "1" + "}" * depth,
        ])

    def config_ids(self, rng: random.Random) -> str:
        value = rng.choice(["-1", "1e999", "NaN", '"0"', "true", "0.5", str(10**30), "9" * 400, "[0]", "null",
                            str(self.size)])
        extra = rng.choice(["", f', "{self.names[0]}": 1'])
        return f'{{"config_id": {value}{extra}}}'

    def huge(self, rng: random.Random) -> str:
        if not self._huge:
            text = self.texts[0]
            self._huge = [
                "a" * MIB, "{" * MIB, " " * MIB + text, text + " " * MIB, text[:-1] + ', "pad": "' + "x" * MIB + '"}',
                '{"' + self.names[0] + '": ' + "9" * MIB + "}", text * (MIB // len(text) + 1),
                '{"' + "k" * MIB + '": 1}', "".join(random.Random(0).choices(PRINTABLE + WEIRD_CHARS, k=MIB)),
            ]
        return rng.choice(self._huge)


def check_step(env: gymnasium.Env, result: tuple[Any, ...]) -> None:
    """Raise AssertionError when a step's answer breaks the env contract."""
    observation, reward, terminated, truncated, info = result
    assert env.observation_space.contains(observation), f"observation outside the Text space: {observation[:200]!r}"
    assert isinstance(reward, float) and math.isfinite(reward), f"reward {reward!r}"
    assert isinstance(terminated, bool) and isinstance(truncated, bool)
    assert isinstance(info.get("valid"), bool) and isinstance(info.get("error"), str | None), info


def outcome(info: dict[str, Any]) -> str:
    if info.get("matched_config") is not None:
        return "matched"
    if info["valid"]:
        return "valid"
    return "repeat" if info["repeat"] else "invalid"


def fuzz_env(env_id: str, n_actions: int, seed: int) -> dict[str, Any]:
    """Step ``n_actions`` fuzzed actions through the four env variants in turn; exit 1 on the first failure."""
    envs = []
    for on_invalid, metric in VARIANTS:
        env = gymnasium.make(env_id, budget=5, on_invalid=on_invalid)
        envs.append(MostSimilarConfig(env, metric=metric) if metric else env)
    for k, env in enumerate(envs):
        env.reset(seed=seed + k)
    fuzzer = Fuzzer(envs[0], seed)
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    by_family: Counter[tuple[str, str]] = Counter()
    start = time.perf_counter()
    for i in range(n_actions):
        env = envs[i % len(envs)]
        family, action = fuzzer.draw(rng)
        try:
            result = env.step(action)
            check_step(env, result)
        except Exception:  # any exception is a finding: report it and stop
            shown = repr(action) if len(action) < 2000 else f"{action[:1000]!r} ... ({len(action):,} chars)"
            print(f"FAILURE on {env_id} ({VARIANTS[i % len(envs)]}), family {family}, action {shown}")
            traceback.print_exc()
            sys.exit(1)
        kind = outcome(result[4])
        counts[kind] += 1
        by_family[family, kind] += 1
        if result[2] or result[3]:
            env.reset()
    elapsed = time.perf_counter() - start
    return {"env_id": env_id, "actions": n_actions, "seconds": elapsed, "steps_per_s": n_actions / elapsed,
            "counts": counts, "by_family": by_family}


def env_for(task: str) -> str:
    """The task's last-listed (high-fidelity) env: what the leaderboard tests agents on."""
    return load_registry().task(task).fidelities[-1].env_id


def markdown(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"# Fuzzing the text-action path (gymnasium_llmconfig {gymnasium_llmconfig.__version__})",
        "",
        f"`python benchmarks/fuzz_actions.py --actions {args.actions} --seed {args.seed}`, one core of a 2-core "
        "machine. Four envs take turns: `on_invalid` ignore / penalize without a wrapper, ignore with "
        "`MostSimilarConfig(metric='lcs')`, penalize with `MostSimilarConfig(metric='numeric')`; budget 5. "
        "Exceptions: **0** (the script stops at the first one).",
        "",
        "| env | actions | steps/s | " + " | ".join(OUTCOMES) + " |",
        "|---|---|---|" + "---|" * len(OUTCOMES),
    ]
    for r in results:
        cells = " | ".join(f"{r['counts'][o]:,}" for o in OUTCOMES)
        lines.append(f"| {r['env_id']} | {r['actions']:,} | {r['steps_per_s']:,.0f} | {cells} |")
    total: Counter[tuple[str, str]] = sum((r["by_family"] for r in results), Counter())
    families = list(dict.fromkeys(f for f, _ in sorted(total)))
    lines += ["", "Outcomes by family, all tasks together:", "",
              "| family | " + " | ".join(OUTCOMES) + " |", "|---|" + "---|" * len(OUTCOMES)]
    for family in families:
        lines.append(f"| {family} | " + " | ".join(f"{total[family, o]:,}" for o in OUTCOMES) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="400 actions per task (seconds, for CI)")
    parser.add_argument("--actions", type=int, default=100_000, help="actions per task (default 100,000)")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated tasks (default {','.join(TASKS)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as a Markdown file")
    args = parser.parse_args()
    if args.quick:
        args.actions = 400
    results = []
    for task in args.tasks.split(","):
        try:
            env_id = env_for(task)
        except KeyError as exc:
            parser.error(f"--tasks: {exc.args[0]}")
        try:
            results.append(fuzz_env(env_id, args.actions, args.seed))
        except DataError as exc:
            sys.exit(f"fuzz_actions.py: cannot make {env_id}: {exc}")
        r = results[-1]
        print(f"{env_id}: {r['actions']:,} actions, {r['steps_per_s']:,.0f} steps/s, 0 exceptions, "
              + ", ".join(f"{o} {r['counts'][o]:,}" for o in OUTCOMES), flush=True)
    text = markdown(results, args)
    print(text)
    if args.out:
        atomic_write(args.out, lambda f: f.write(text))


if __name__ == "__main__":
    main()
