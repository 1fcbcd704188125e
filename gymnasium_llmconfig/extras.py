"""Which optional extra of this package provides a missing module, so that a missing dependency costs a
user one line with the command that fixes it instead of a traceback.

The mapping is read from the installed package's own metadata (the ``[options.extras_require]`` of
``setup.cfg``), so it cannot drift from what ``pip install 'gymnasium-llmconfig[EXTRA]'`` installs.
"""

from __future__ import annotations

import re
from importlib import metadata

DISTRIBUTION = "gymnasium-llmconfig"
#: Extras that exist for development only and are never the one to recommend.
DEVELOPMENT_EXTRAS = frozenset({"test"})
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)[^;]*;\s*extra\s*==\s*[\"']([^\"']+)[\"']")


def _normalized(name: str) -> str:
    """PEP 503 name: ``stable_baselines3`` and ``stable-baselines3`` are the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def extras_providing(module: str) -> dict[str, int]:
    """The extras that install ``module`` (its top-level package), each with its number of requirements."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return {}
    sizes: dict[str, int] = {}
    providers: set[str] = set()
    wanted = _normalized(module.split(".")[0])
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        if match is None or match[2] in DEVELOPMENT_EXTRAS:
            continue
        sizes[match[2]] = sizes.get(match[2], 0) + 1
        if _normalized(match[1]) == wanted:
            providers.add(match[2])
    return {extra: sizes[extra] for extra in sorted(providers)}


def install_hint(error: ImportError, prefer: str | None = None) -> str | None:
    """One line for a missing optional module, e.g. ``No module named 'matplotlib'. Fix: pip install
    'gymnasium-llmconfig[bench]'``; ``prefer`` picks that extra when it provides the module (``bench``
    for the leaderboard), else the smallest extra that does. ``None`` if no extra provides it."""
    module = getattr(error, "name", None)
    extras = extras_providing(module) if module else {}
    if not extras:
        return None
    extra = prefer if prefer in extras else min(extras, key=lambda e: (extras[e], e))
    return f"{error}, which comes with an optional extra. Fix: pip install '{DISTRIBUTION}[{extra}]'"
