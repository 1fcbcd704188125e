"""Collectors: run real (small) LLM training sweeps and write tables the registry serves.

``llmconfig collect pretrain`` (:mod:`.cli`) expands a spec (:mod:`.sweep`) into
tiny GPT runs (:mod:`.model`, :mod:`.train`) on a seeded synthetic corpus
(:mod:`.corpus`). Importing this package does not import torch.
"""
