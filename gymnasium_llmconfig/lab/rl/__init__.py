"""Reinforcement-learning pieces shared by every trainer in the top layer.

:mod:`.objective` holds the GRPO math (group-normalized advantages, the PPO-clip
surrogate with a k3 KL penalty, masked means). The agent trainer (``llmconfig
train grpo``), the GRPO task's collector and LLMZero's schedule search all use
it, so the formulas exist once and are tested once. Importing it needs torch.
"""
