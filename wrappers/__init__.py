"""Gymnasium wrappers for LLMConfig envs."""
