"""The agent zoo: classical baselines, meta-learners and LLM agents behind one small protocol."""

from agents.base import Agent, LearningAgent, run_episode
from agents.config_agent import ConfigAgent
from agents.zoo import agent_names, make_agent

__all__ = ["Agent", "ConfigAgent", "LearningAgent", "agent_names", "make_agent", "run_episode"]
