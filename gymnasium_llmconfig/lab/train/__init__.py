"""Training LLM agents on the cheap fidelities (paper 000, §4.2): trajectories, distillation, GRPO.

``llmconfig train`` (:mod:`.cli`) is the entry point. Importing this package does not import torch.
"""
