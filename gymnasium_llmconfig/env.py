"""The env: text in, text out, outcomes from real runs.

``reset`` returns the task prompt; ``step`` reads a config from the agent's
text, answers with the run's result and a reward such that ``T`` valid,
distinct proposals sum to the paper's cumulative-regret reward (its
equation 3, in [-1, 0]). The full contract is the README's "The env contract" section.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import gymnasium as gym
from gymnasium import spaces

from gymnasium_llmconfig.card import TaskCard
from gymnasium_llmconfig.config_space import Config, InvalidConfig, format_value
from gymnasium_llmconfig.curation import Demos, demonstrations
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.parsing import TOOL_NAME, parse_action
from gymnasium_llmconfig.problem import Problem
from gymnasium_llmconfig.prompt import CHARSET, format_mapping, render_prompt, shorten, to_charset
from gymnasium_llmconfig.registry import load_problem

OnInvalid = Literal["terminate", "penalize", "ignore"]
ON_INVALID = ("terminate", "penalize", "ignore")
#: Long enough for any prompt plus a long chain of thought.
MAX_TEXT_LENGTH = 262_144
#: With on_invalid="ignore", an episode is cut after this many steps per unit of budget.
IGNORE_STEP_FACTOR = 4
#: Error messages (in the feedback and in ``info["error"]``) are cut to this many characters.
MAX_ERROR_CHARS = 1_000


class InvalidBudget(gym.error.Error, InvalidArgument):
    """A budget ``T`` outside 1, 2, ...: raised as ``gymnasium.make`` is called, like Gymnasium's own errors."""


def check_budget(budget: object, env_id: str | None) -> int:
    """``budget`` if it is a valid number of trials, else :class:`InvalidBudget` naming the allowed range."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        where = f" for {env_id}" if env_id else ""
        raise InvalidBudget(f"budget={budget!r} is not allowed{where}: the budget is the number of trials T, "
                            "an integer >= 1 (the paper uses 1 to 5), e.g. gymnasium.make(env_id, budget=5)")
    return budget


def text_space() -> spaces.Text:
    return spaces.Text(max_length=MAX_TEXT_LENGTH, min_length=0, charset=frozenset(CHARSET))


class LLMConfigEnv(gym.Env[str, str]):
    """One (task, fidelity) env.

    Args:
        env_id: a registered id such as ``"LLMConfig-Pretrain-N429M-D50B-v0"``.
        budget: number of trials ``T`` (the paper uses 1..5).
        on_invalid: what an unparseable, invalid or repeated proposal does:
            ``"terminate"`` ends the episode with total return -1 (the paper's rule),
            ``"penalize"`` costs a trial and the worst per-trial reward ``-1/T``,
            ``"ignore"`` costs nothing (the episode is cut after ``4*T`` steps).
        reveal_names: show dataset, benchmark and model-family names (withheld by
            default so that an LLM cannot recall results from pretraining).
        target: an alternative target metric where the task offers several.
        demos: lower-fidelity envs whose top configs the prompt's Context shows (the
            paper's low-to-high protocol): ``"auto"`` takes the envs of the same task
            with the nearest lower role (a high env shows the medium envs, a medium env
            the low envs, a low env none); or a list of env ids of the same task; or
            ``None``. Demo envs are loaded with the same ``reveal_names`` and ``target``.
        top_k: number of top configs shown per demo env.
        download: fetch missing data files into the user cache.
        problem: a ready :class:`Problem` (for tests and custom tables) instead of ``env_id``'s.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"]}

    def __init__(
        self,
        env_id: str | None = None,
        *,
        budget: int = 5,
        on_invalid: OnInvalid = "terminate",
        reveal_names: bool = False,
        target: str | None = None,
        demos: Demos = "auto",
        top_k: int = 5,
        download: bool = False,
        problem: Problem | None = None,
        render_mode: str | None = None,
    ):
        check_budget(budget, env_id)
        if on_invalid not in ON_INVALID:
            raise InvalidArgument(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InvalidArgument(f"render_mode must be one of {self.metadata['render_modes']} or None")
        if problem is None:
            if env_id is None:
                raise InvalidArgument("pass an env_id (see `llmconfig envs`) or a problem")
            problem = load_problem(env_id, reveal_names=reveal_names, target=target, download=download)
        self.problem = problem
        self.on_invalid = on_invalid
        self.render_mode = render_mode
        self._demonstrations = demonstrations(problem.env_id, demos, top_k=top_k, reveal_names=reveal_names,
                                              target=target, download=download)
        self.observation_space = text_space()
        self.action_space = text_space()
        self._reset_state()
        self.set_budget(budget)

    def set_budget(self, budget: int) -> None:
        """Set the number of trials ``T``: the prompt, the reward scale and the truncation all follow it.

        The env is the one holder of ``T`` (``BudgetTruncation`` reads and sets it
        here); it can change only between episodes.
        """
        check_budget(budget, self.problem.env_id)
        if self._transcript and not self._done:
            raise RuntimeError(
                "the budget can change only between episodes (before reset() or after the episode ended)"
            )
        problem = self.problem
        self.budget = budget
        self.card = TaskCard(
            problem.env_id, problem.task, problem.fidelity, problem.space, budget, self._demonstrations
        )
        self._prompt = render_prompt(self.card, problem.describe_space())

    # -- gymnasium API -------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        if options:
            raise InvalidArgument(f"LLMConfigEnv.reset takes no options, got {sorted(options)}")
        self._reset_state()
        self._transcript.append(self._prompt)
        return self._prompt, self._info(None, valid=True, repeat=False, outcome=None, error=None)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the episode is over; call reset() before step()")
        self._steps += 1
        parsed = parse_action(action)
        config: Config | None = None
        error = parsed.error
        repeat = False
        if parsed.config is not None:
            try:
                config = self.problem.space.canonicalize(parsed.config)
            except InvalidConfig as exc:
                error = str(exc)
        if config is not None and self.problem.space.key(config) in self._seen:
            repeat = True
            error = f"{self.problem.space.canonical_text(config)} was already evaluated in this episode"
        if error is None:
            assert config is not None
            return self._valid_step(config)
        return self._invalid_step(config, error, repeat)

    def render(self) -> str | None:
        text = "\n\n".join(self._transcript)
        if self.render_mode == "human":
            print(self._transcript[-1] if self._transcript else "")
            return None
        return text if self.render_mode == "ansi" else None

    # -- internals -----------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self._seen: set[Any] = set()
        self._trials = 0
        self._steps = 0
        self._return = 0.0
        self._best_config: Config | None = None
        self._best_metric: float | None = None
        self._done = False
        self._transcript: list[str] = []

    @property
    def budget_left(self) -> int:
        return self.budget - self._trials

    def _valid_step(self, config: Config) -> tuple[str, float, bool, bool, dict[str, Any]]:
        problem = self.problem
        outcome = problem.evaluate(config)
        self._seen.add(problem.space.key(config))
        self._trials += 1
        if self._best_metric is None or problem.task.better(outcome.metric, self._best_metric):
            self._best_metric, self._best_config = outcome.metric, config
        reward = -problem.normalized_regret(outcome.metric) / self.budget
        self._return += reward
        truncated = self._trials >= self.budget
        self._done = truncated
        text = self._feedback(config, outcome.metric, outcome.details)
        return self._emit(text, reward, False, truncated, config, True, False, outcome, None)

    def _invalid_step(
        self, config: Config | None, error: str, repeat: bool
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        error = shorten(error, MAX_ERROR_CHARS)
        terminated = truncated = False
        if self.on_invalid == "terminate":
            reward = -1.0 - self._return
            terminated = True
            consequence = "This ends the episode with the worst reward (-1)."
        elif self.on_invalid == "penalize":
            reward = -1.0 / self.budget
            self._trials += 1
            truncated = self._trials >= self.budget
            consequence = f"This costs one trial with the worst reward. Budget left: {self.budget_left} trial(s)."
        else:
            reward = 0.0
            truncated = self._steps >= IGNORE_STEP_FACTOR * self.budget
            consequence = f"It was ignored. Budget left: {self.budget_left} trial(s)."
        self._return += reward
        self._done = terminated or truncated
        kind = "Repeated proposal" if repeat else "Invalid proposal"
        text = (
            f"{kind}: {error}.\n{consequence}\n"
            f'Answer with {{"name": "{TOOL_NAME}", "arguments": {{...}}}} holding one value for each of: '
            f"{', '.join(self.problem.space.names[:25])}{', ...' if len(self.problem.space.names) > 25 else ''}."
        )
        return self._emit(to_charset(text), reward, terminated, truncated, config, False, repeat, None, error)

    def _feedback(self, config: Config, metric: float, details: dict[str, Any]) -> str:
        task = self.problem.task
        lines = [
            f"Trial {self._trials}/{self.budget}: {self.problem.space.canonical_text(config)}",
            f"{task.metric_name}: {format_value(metric)} (best so far: {format_value(self._best_metric)})",
        ]
        if details:
            lines.append(f"Details: {format_mapping(details)}")
        if self._trials >= self.budget:
            lines.append(
                f"The budget is spent. Best configuration: {self.problem.space.canonical_text(self._best_config)}"
                if self._best_config is not None else "The budget is spent."
            )
        else:
            lines.append(f"Budget left: {self.budget_left} trial(s).")
        return to_charset("\n".join(lines))

    def _emit(
        self, text: str, reward: float, terminated: bool, truncated: bool, config: Config | None,
        valid: bool, repeat: bool, outcome: Any, error: str | None,
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self._transcript.append(text)
        info = self._info(config, valid=valid, repeat=repeat, outcome=outcome, error=error)
        return text, float(reward), terminated, truncated, info

    def _info(
        self, config: Config | None, *, valid: bool, repeat: bool, outcome: Any, error: str | None
    ) -> dict[str, Any]:
        problem = self.problem
        best = self._best_metric
        return {
            "env_id": problem.env_id,
            "config": config,
            "valid": valid,
            "repeat": repeat,
            "error": error,
            "matched_config": None,
            "metric": None if outcome is None else outcome.metric,
            "metric_name": problem.task.metric_name,
            "direction": problem.task.direction,
            "details": {} if outcome is None else dict(outcome.details),
            "best_config": self._best_config,
            "best_metric": best,
            "normalized_regret": 1.0 if best is None else problem.normalized_regret(best),
            "budget_left": self.budget_left,
            "trials": self._trials,
            "fidelity": dict(problem.fidelity.metadata),
            "role": problem.fidelity.role,
        }
