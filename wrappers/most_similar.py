"""MostSimilarConfig: run the most similar valid config instead of an invalid proposal.

The paper (section 4.2.3) adds this during RL so that minor format slips late in
a long rollout (a wrong value, a missing key, a list one entry too long) do not
collapse the whole episode to the -1 reward.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import gymnasium as gym
from gymnasium import spaces

from gymnasium_llmconfig.config_space import Config, InvalidConfig
from gymnasium_llmconfig.parsing import parse_action
from gymnasium_llmconfig.prompt import shorten, to_charset

Metric = Literal["lcs", "numeric"]
#: The space's name of each metric (``"lcs"`` is the paper's name for the substring rule).
_SPACE_METRIC = {"lcs": "substring", "numeric": "numeric"}
_REASON_CHARS = 300


class MostSimilarConfig(gym.Wrapper[str, str, str, str], gym.utils.RecordConstructorArgs):
    """Replace a parseable but invalid proposal by the most similar valid config.

    A proposal that is already valid, or text with no config in it at all, goes to
    the env unchanged (so unparseable text stays invalid, and a repeat stays a repeat).
    Otherwise the env runs the matched config, the observation starts with a note
    saying so, and ``info["matched_config"]`` / ``info["original_action"]`` keep
    the match and the agent's own text (both ``None`` on unmatched steps).

    Args:
        env: an LLMConfig env (text actions), possibly wrapped.
        metric: ``"lcs"``, the paper's rule: the valid config whose canonical text
            shares the longest common substring with the proposal; ``"numeric"``:
            the valid config nearest in the space's vector encoding (falls back to
            ``"lcs"`` when the proposal names no known parameter). Both are the
            space's ``nearest(raw, metric)``; a space with one repair rule (an
            architecture space) uses it for both.
    """

    def __init__(self, env: gym.Env, metric: Metric = "lcs"):
        gym.utils.RecordConstructorArgs.__init__(self, metric=metric)
        gym.Wrapper.__init__(self, env)
        if metric not in _SPACE_METRIC:
            raise ValueError(f"metric must be 'lcs' or 'numeric', got {metric!r}")
        if not (isinstance(env.action_space, spaces.Text) and isinstance(env.observation_space, spaces.Text)):
            raise TypeError("MostSimilarConfig needs text actions and observations; put it below wrappers "
                            f"that change them (got {env.action_space}, {env.observation_space})")
        self.space = env.unwrapped.card.space
        self.metric = metric

    def match(self, raw: Mapping[str, Any]) -> Config | None:
        """The valid config run for the invalid proposal ``raw`` (``None``: no repair, it stays invalid)."""
        return self.space.nearest(raw, metric=_SPACE_METRIC[self.metric])

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        parsed = parse_action(action)
        matched, reason = None, ""
        if parsed.config is not None:
            try:
                self.space.canonicalize(parsed.config)
            except InvalidConfig as exc:
                reason = str(exc)
                matched = self.match(parsed.config)
        if matched is None:
            observation, reward, terminated, truncated, info = self.env.step(action)
            return observation, reward, terminated, truncated, {**info, "original_action": None}
        observation, reward, terminated, truncated, info = self.env.step(self.space.canonical_text(matched))
        note = to_charset(f"Your proposal is not a valid configuration ({shorten(reason, _REASON_CHARS)}); "
                          "the most similar valid configuration was run instead.\n")
        if len(note) + len(observation) <= self.observation_space.max_length:
            observation = note + observation
        info = {**info, "matched_config": matched, "original_action": action}
        return observation, reward, terminated, truncated, info
