"""LLMZero (paper 003): tree search over multi-stage GRPO training schedules, run live on the GRPO trainer."""
