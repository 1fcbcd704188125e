"""TranscriptObservation: the whole conversation so far as one text observation.

For agents that want a Markov text state (a policy that sees one string per
step, not a chat history it keeps itself). The observation is the prompt
followed by one block per turn::

    <prompt>

    --- agent (turn 1) ---
    <action text>

    --- environment ---
    <feedback>
"""

from __future__ import annotations

from collections import deque
from typing import Any, SupportsFloat

import gymnasium as gym
from gymnasium import spaces

from gymnasium_llmconfig.prompt import to_charset


class TranscriptObservation(gym.Wrapper[str, str, str, str], gym.utils.RecordConstructorArgs):
    """Observation = prompt + every (action, feedback) turn so far, within the observation space.

    Args:
        env: an LLMConfig env (text observations and actions), possibly wrapped.
        max_action_chars: an action longer than this keeps only its tail (the answer
            comes last), so long chains of thought do not crowd out the results.
            When the transcript would still exceed the space's ``max_length``, the
            oldest turns are replaced by a one-line note.
    """

    def __init__(self, env: gym.Env, max_action_chars: int = 4_000):
        gym.utils.RecordConstructorArgs.__init__(self, max_action_chars=max_action_chars)
        gym.Wrapper.__init__(self, env)
        if not (isinstance(env.observation_space, spaces.Text) and isinstance(env.action_space, spaces.Text)):
            raise TypeError("TranscriptObservation needs text observations and actions, got "
                            f"{env.observation_space} and {env.action_space}")
        if max_action_chars < 1:
            raise ValueError(f"max_action_chars must be positive, got {max_action_chars}")
        self.max_action_chars = max_action_chars
        self._prompt = ""
        self._turns: deque[str] = deque()
        self._dropped = 0
        self._chars = 0

    def reset(self, **kwargs: Any) -> tuple[str, dict[str, Any]]:
        self._prompt, info = self.env.reset(**kwargs)
        self._turns.clear()
        self._dropped = self._chars = 0
        return self._prompt, info

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._add_turn(action, observation)
        return self.transcript(), reward, terminated, truncated, info

    def transcript(self) -> str:
        """The current observation text."""
        dropped = [f"[{self._dropped} earlier turn(s) omitted]"] if self._dropped else []
        return "\n\n".join([self._prompt, *dropped, *self._turns])

    def _add_turn(self, action: Any, observation: str) -> None:
        limit = self.observation_space.max_length - len(self._prompt) - 64  # room for the omission note
        keep = max(0, min(self.max_action_chars, limit - len(observation) - 128))  # one turn always fits
        text = to_charset(action if isinstance(action, str) else repr(action))
        if len(text) > keep:
            text = f"[... {len(text) - keep} characters omitted ...]\n" + text[len(text) - keep:]
        number = self._dropped + len(self._turns) + 1
        turn = f"--- agent (turn {number}) ---\n{text}\n\n--- environment ---\n{observation}"
        self._turns.append(turn)
        self._chars += len(turn) + 2
        while self._chars > limit and len(self._turns) > 1:
            self._chars -= len(self._turns.popleft()) + 2
            self._dropped += 1
