"""Arch task: HW-GPT-Bench architectures of GPT-S/M/L (perplexity surrogate + analytic FLOPs).

Importing this package never imports torch; torch is needed only once per
scale, to convert the upstream ``.pt`` weights into the npz cache.
"""

from gymnasium_llmconfig.tasks.arch.formulas import flops, param_count
from gymnasium_llmconfig.tasks.arch.problem import ArchProblem
from gymnasium_llmconfig.tasks.arch.space import SCALES, ArchBatch, ArchConfigSpace, ScaleSpec, get_scale
from gymnasium_llmconfig.tasks.arch.surrogate import PerplexitySurrogate, load_surrogate

__all__ = [
    "SCALES",
    "ArchBatch",
    "ArchConfigSpace",
    "ArchProblem",
    "PerplexitySurrogate",
    "ScaleSpec",
    "flops",
    "get_scale",
    "load_surrogate",
    "param_count",
]
