"""Verifiable synthetic task families: seeded generators, exact-match verifiers, disjoint splits.

They play the role of the datasets of paper 000's Task 3 (§A.4: GSM8K, DAPO-Math, MMLU-Pro):
each family is a set of prompts with one right answer that a program checks, so GRPO's reward
needs no reward model. A family is named ``<kind><difficulty>``: ``add3`` adds two 3-digit
numbers, ``sort5`` sorts 5 digits. Prompts are short (a char-level policy reads them) and
numbers are zero-padded, so every prompt of a family has the same length.

Splits never overlap: a prompt's split is fixed by a hash of its text (not by the order it was
drawn in), so the same prompt lands in the same split at every size and seed.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from gymnasium_llmconfig.errors import CollectError

_NAMES = ("ann", "bob", "cy", "dee", "eli", "fay")
_ITEMS = ("pens", "cups", "eggs", "keys")
SPLITS = ("train", "val", "test")
_FAMILY = re.compile(r"([a-z]+)([1-9])")


def _num(rng: random.Random, digits: int) -> int:
    return rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)


def _add(rng: random.Random, d: int) -> tuple[str, str]:
    a, b = _num(rng, d), _num(rng, d)
    return f"{a:0{d}d}+{b:0{d}d}=", str(a + b)


def _mul(rng: random.Random, d: int) -> tuple[str, str]:
    a, b = _num(rng, d), rng.randrange(2, 10)
    return f"{a:0{d}d}*{b}=", str(a * b)


def _mod(rng: random.Random, d: int) -> tuple[str, str]:
    a, m = _num(rng, d), rng.randrange(2, 10)
    return f"{a:0{d}d}%{m}=", str(a % m)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _sort(rng: random.Random, n: int) -> tuple[str, str]:
    s = _digits(rng, n)
    return f"s{s}=", "".join(sorted(s))


def _rev(rng: random.Random, n: int) -> tuple[str, str]:
    s = _digits(rng, n)
    return f"r{s}=", s[::-1]


def _word(rng: random.Random, d: int) -> tuple[str, str]:
    """A templated word problem: one of two stories (gain or loss), names and items drawn."""
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    a, b = _num(rng, d), _num(rng, d)
    if rng.random() < 0.5:
        return f"{name} has {a:0{d}d} {item}, gets {b:0{d}d}. now?", str(a + b)
    a, b = max(a, b), min(a, b)
    return f"{name} has {a:0{d}d} {item}, loses {b:0{d}d}. now?", str(a - b)


#: Kinds of family, each a generator ``(rng, difficulty) -> (prompt, answer)``.
GENERATORS: dict[str, Callable[[random.Random, int], tuple[str, str]]] = {
    "add": _add,
    "mul": _mul,
    "mod": _mod,
    "sort": _sort,
    "rev": _rev,
    "word": _word,
}
#: Characters any family may use; the char-level policy's vocabulary is built from them.
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz+*%= ,.?"


@dataclass(frozen=True)
class Family:
    """One task family: a kind and a difficulty (digits or list length)."""

    kind: str
    difficulty: int

    @property
    def name(self) -> str:
        return f"{self.kind}{self.difficulty}"

    @property
    def label(self) -> str:
        """Readable label for env ids: ``Add3``."""
        return f"{self.kind.capitalize()}{self.difficulty}"

    def example(self, rng: random.Random) -> tuple[str, str]:
        return GENERATORS[self.kind](rng, self.difficulty)

    @property
    def max_prompt_len(self) -> int:
        """Longest prompt the family can produce (numbers are zero-padded; the longest story for ``word``)."""
        d = self.difficulty
        if self.kind == "word":
            name, item = max(_NAMES, key=len), max(_ITEMS, key=len)
            return len(f"{name} has {'0' * d} {item}, loses {'0' * d}. now?")
        return {"add": 2 * d + 2, "mul": d + 3, "mod": d + 3}.get(self.kind, d + 2)

    @property
    def max_answer_len(self) -> int:
        """Longest answer: one carry digit more than the operands for sums and products."""
        return {"add": self.difficulty + 1, "mul": self.difficulty + 1, "mod": 1,
                "word": self.difficulty + 1}.get(self.kind, self.difficulty)


def parse_family(name: str) -> Family:
    """``'add3'`` -> ``Family('add', 3)``; an unknown family names the allowed ones."""
    m = _FAMILY.fullmatch(str(name).strip().lower())
    if not m or m.group(1) not in GENERATORS:
        raise CollectError(
            f"unknown task family {name!r}; allowed: <kind><difficulty 1-9> with kind one of "
            f"{sorted(GENERATORS)} (e.g. add3, sort5)"
        )
    return Family(m.group(1), int(m.group(2)))


def split_of(prompt: str) -> str:
    """The split a prompt belongs to, by hash: 1/8 test, 1/8 validation, the rest train."""
    bucket = hashlib.sha256(prompt.encode()).digest()[0] % 8
    return "test" if bucket == 0 else "val" if bucket == 1 else "train"


@dataclass(frozen=True)
class Problem:
    prompt: str
    answer: str


def verify(completion: str, answer: str) -> float:
    """Exact-match reward: 1.0 when the completion (surrounding whitespace ignored) is the answer."""
    return 1.0 if completion.strip() == answer else 0.0


def make_split(family: Family, split: str, n: int, seed: int = 0) -> list[Problem]:
    """``n`` distinct problems of ``split``, drawn deterministically from ``seed``.

    Raises a :class:`CollectError` when the family has fewer than ``n`` distinct prompts in that split.
    """
    if split not in SPLITS:
        raise CollectError(f"unknown split {split!r}; allowed: {SPLITS}")
    rng = random.Random(f"{family.name}/{split}/{seed}")
    seen: dict[str, str] = {}
    misses = 0
    while len(seen) < n:
        prompt, answer = family.example(rng)
        if prompt in seen or split_of(prompt) != split:
            misses += 1
            if misses > 200 * n + 10_000:
                raise CollectError(f"task family {family.name} has fewer than {n} distinct {split} prompts; "
                                   "choose a harder family or fewer samples")
            continue
        seen[prompt] = answer
    return [Problem(p, a) for p, a in seen.items()]
