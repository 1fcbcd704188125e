"""The agent zoo: classical baselines, meta-learners and LLM agents behind one small protocol."""

from agents.base import Agent, LearningAgent, run_episode

__all__ = ["Agent", "LearningAgent", "run_episode"]
