"""The cluster path: multi-turn GRPO (and SFT distillation) on OpenRLHF over Ray GPUs (issue 13).

``llmconfig train grpo --backend openrlhf`` writes three files into ``OUT/openrlhf/`` and submits
them as a Ray job: ``agent_func.py`` (loaded by OpenRLHF through ``--train.agent_func_path``; its
classes are :mod:`.adapter`), ``prompts.jsonl`` (:mod:`.prompts`: training samples x budgets x seeds,
each with a JSON ``label`` naming its episode) and ``launch.sh`` (:mod:`.launch`: the
``ray job submit ... -- python3 -m openrlhf.cli.train_ppo_ray`` command, every flag checked
against the installed OpenRLHF's own parser by :mod:`.flags`).

OpenRLHF is imported only by the adapter (which runs on the cluster) and read as source by
:mod:`.flags`; the launcher needs the package installed (``pip install --no-deps openrlhf==`` the
pinned version is enough to prepare and submit) but none of its GPU dependencies.
"""

from __future__ import annotations

#: The OpenRLHF release this adapter and its flags are tested against (``[cluster]`` extra pins it).
OPENRLHF_VERSION = "0.11.2"
