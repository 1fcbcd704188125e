"""GRPO post-training: verifiable synthetic tasks, policies (tiny char-level GPT, local HF causal LM), a
step-wise trainer with weights-only checkpoints, and the ``collect grpo`` sweep. Imports torch.
"""
