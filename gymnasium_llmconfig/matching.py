"""Most-similar listed config for a proposal that is not in a finite space.

The implementation of :meth:`FiniteConfigSpace.nearest`. Two rules, both
precomputed once per space (the space keeps its :class:`SpaceMatcher`, and the
registry shares one problem, hence one space, per env id):

- ``"substring"`` (the paper's rule, LLMConfig-Gym §4.2.3): the valid config
  whose canonical text shares the longest common substring with the proposal's text. Exact: every candidate that
  could win is checked with :meth:`difflib.SequenceMatcher.find_longest_match`;
  q-gram indexes only skip candidates whose upper bound cannot beat the best
  found so far (a common substring of length ``L >= q`` means ``L - q + 1``
  consecutive q-grams of the proposal occur in the candidate). Ties go to the
  config listed first in ``space.enumerate()``.
- ``"numeric"``: the config nearest in the space's vector encoding, the
  proposal placed by snapping each known parameter to its nearest choice.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from gymnasium_llmconfig.config_space import Parameter

#: q-gram lengths of the pruning index: short ones bound short matches, long ones stay tight on
#: texts with much repeated structure (17 `"domain_xx": 0.0` fields), where short q-grams occur everywhere.
QS = (6, 16)
#: Proposal texts are cut to this many characters (their tail): bounds the cost of a match.
MAX_PROPOSAL_CHARS = 8_000


class LongestSubstringIndex:
    """Finds, among fixed texts, the one sharing the longest common substring with a query."""

    def __init__(self, texts: Sequence[str]):
        if not texts:
            raise ValueError("LongestSubstringIndex needs at least one text")
        self._matchers = [SequenceMatcher(None, "", t, autojunk=False) for t in texts]
        self._lengths = np.array([len(t) for t in texts])
        self._postings = {q: _postings(texts, q) for q in QS}

    def __len__(self) -> int:
        return len(self._matchers)

    def longest(self, query: str, i: int) -> int:
        """Length of the longest common substring of ``query`` and text ``i``."""
        matcher = self._matchers[i]
        matcher.set_seq1(query)
        return matcher.find_longest_match(0, len(query), 0, len(matcher.b)).size

    def best(self, query: str) -> int:
        """Index of the text with the longest common substring (lowest index on ties)."""
        bounds = self.upper_bounds(query)
        best_i, best_len = -1, -1
        for i in np.lexsort((np.arange(len(bounds)), -bounds)):  # bound descending, then index
            if bounds[i] < best_len or (bounds[i] == best_len and i > best_i):
                break  # nothing left can beat (or tie with a lower index) the best found
            size = self.longest(query, int(i))
            if size > best_len or (size == best_len and i < best_i):
                best_i, best_len = int(i), size
        return best_i

    def upper_bounds(self, query: str) -> np.ndarray:
        """Per text, an upper bound on the longest common substring with ``query``."""
        bound = np.minimum(self._lengths, len(query))
        for q, postings in self._postings.items():
            bound = np.minimum(bound, self._run_bound(query, q, postings))
        return bound

    def _run_bound(self, query: str, q: int, postings: dict[str, np.ndarray]) -> np.ndarray:
        """``longest run of consecutive query q-grams found in the text + q - 1`` (or ``q - 1``)."""
        n, positions = len(self._matchers), len(query) - q + 1
        if positions <= 0:
            return np.full(n, len(query))
        hits = [(j, postings.get(query[j : j + q])) for j in range(positions)]
        hits = [(j, ids) for j, ids in hits if ids is not None]
        present = np.zeros((n, positions + 2), dtype=np.int8)  # zero-padded on both sides
        if hits:
            rows = np.concatenate([ids for _, ids in hits])
            cols = np.repeat([j + 1 for j, _ in hits], [len(ids) for _, ids in hits])
            present[rows, cols] = 1
        step = np.diff(present, axis=1)
        start_rows, start_cols = np.nonzero(step == 1)
        _, end_cols = np.nonzero(step == -1)  # runs end in the same row-major order as they start
        longest_run = np.zeros(n, dtype=np.int64)
        np.maximum.at(longest_run, start_rows, end_cols - start_cols)
        return longest_run + q - 1


def _postings(texts: Sequence[str], q: int) -> dict[str, np.ndarray]:
    """For each q-gram, the indices of the texts containing it."""
    postings: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        for gram in {text[j : j + q] for j in range(len(text) - q + 1)}:
            postings[gram].append(i)
    return {gram: np.array(ids, dtype=np.intp) for gram, ids in postings.items()}


class SpaceMatcher:
    """Maps a raw proposal (a parsed but invalid dict) to the most similar of a finite list of configs.

    It holds the list's canonical texts and encodings, not the space, so the
    space can keep one as a plain attribute; :meth:`match` returns a position.
    """

    def __init__(self, parameters: Sequence[Parameter], texts: Sequence[str], encoded: np.ndarray):
        self.names = tuple(p.name for p in parameters)
        self._lower = {name.lower(): name for name in self.names}
        self._parameters = tuple(parameters)
        self._relaxed = tuple(  # snap any finite number to its nearest choice
            dataclasses.replace(p, abs_tol=math.inf) if p.is_numeric else p for p in parameters)
        self._texts = list(texts)
        self._encoded = encoded
        self._lcs: LongestSubstringIndex | None = None  # built on first use

    def match(self, raw: Mapping[str, Any], metric: str = "substring") -> int:
        """Position of the most similar config.

        ``"numeric"`` falls back to ``"substring"`` when the proposal has no usable parameter.
        """
        index = self._nearest_numeric(raw) if metric == "numeric" else None
        if index is None:
            if self._lcs is None:
                self._lcs = LongestSubstringIndex(self._texts)
            index = self._lcs.best(self.proposal_text(raw))
        return index

    def proposal_text(self, raw: Mapping[str, Any]) -> str:
        """The proposal written like a canonical text: known keys in space order and spelling first."""
        known, rest = self._split(raw)
        ordered = {name: known[name] for name in self.names if name in known}
        ordered.update(rest)
        try:
            text = json.dumps(ordered, separators=(", ", ": "), default=str)
        except (TypeError, ValueError, RecursionError):  # odd keys or deep nesting from a Python literal
            text = ", ".join(ordered)
        return text[-MAX_PROPOSAL_CHARS:]

    def _split(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        known: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for key, value in raw.items():
            name = self._lower.get(str(key).strip().lower())
            if name is None:
                rest[str(key)] = value
            else:
                known[name] = value
        return known, rest

    def _nearest_numeric(self, raw: Mapping[str, Any]) -> int | None:
        known, _ = self._split(raw)
        position = np.full(len(self._parameters), np.nan)
        for d, (param, relaxed) in enumerate(zip(self._parameters, self._relaxed, strict=True)):
            value = known.get(param.name, param.default)
            if value is None:
                continue
            try:
                position[d] = param.unit_position(relaxed.snap(value))
            except ValueError:  # InvalidConfig: a value that names no choice
                continue
        usable = ~np.isnan(position)
        if not usable.any():
            return None
        distances = ((self._encoded[:, usable] - position[usable]) ** 2).sum(axis=1)
        return int(np.argmin(distances))
