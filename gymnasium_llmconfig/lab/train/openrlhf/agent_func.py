"""OpenRLHF's agent for gymnasium-llmconfig, copied to OUT/openrlhf/ by `llmconfig train grpo --backend openrlhf`.

OpenRLHF loads this file by path (``--train.agent_func_path``) and instantiates its ``AgentExecutor``.
The classes live in the project, which the Ray job's runtime_env ships to every worker, so the file
the job reads and the code this repository tests are the same.
"""

from gymnasium_llmconfig.lab.train.openrlhf.adapter import AgentExecutor, AgentInstance

__all__ = ["AgentExecutor", "AgentInstance"]
