"""Agents by name: one registry, the entry-point group, plus ``module:Class`` references.

Built-in agents are declared in this project's ``setup.cfg`` exactly as an
installed third-party distribution declares its own::

    [options.entry_points]
    gymnasium_llmconfig.agents =
        my-agent = my_pkg.agents:MyAgent

so ``make_agent("optuna-tpe")``, ``make_agent("my-agent")`` and
``make_agent("my_pkg.agents:MyAgent", lr=0.1)`` all resolve the same way and
return a fresh agent. The benchmark CLI resolves ``--agents`` here.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from gymnasium_llmconfig.errors import UnknownAgentError
from gymnasium_llmconfig.extras import install_hint

#: Entry-point group every agent name is registered under (built-in and third-party alike).
ENTRY_POINT_GROUP = "gymnasium_llmconfig.agents"


def _registered() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def agent_names() -> list[str]:
    """Every name :func:`make_agent` accepts without a module path."""
    return sorted(_registered())


def resolve_agent(reference: str) -> Callable[..., Any]:
    """The factory (a class or any callable) behind an agent name or ``module:Class``."""
    reference = reference.strip()
    registered = _registered()
    if reference in registered:
        entry = registered[reference]
        return _import(f"{entry.module}:{entry.attr}", reference)
    if ":" in reference:
        return _import(reference, reference)
    close = difflib.get_close_matches(reference, registered, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownAgentError(
        f"unknown agent {reference!r}.{hint} Known agents: {', '.join(sorted(registered))}; "
        "or pass your own as module:Class (the module must be importable) or register it "
        f"under the entry-point group {ENTRY_POINT_GROUP!r}."
    )


def check_arguments(reference: str, factory: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    """Raise :class:`UnknownAgentError` if ``factory`` cannot take ``kwargs`` (checked without building it)."""
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as error:
        raise UnknownAgentError(f"agent {reference!r} does not accept arguments {sorted(kwargs)}: {error}") from None
    except ValueError:  # no introspectable signature (a builtin); the call will tell
        pass


def make_agent(reference: str, **kwargs: Any) -> Any:
    """A new agent from a registered name or ``module:Class``; ``kwargs`` go to its constructor."""
    factory = resolve_agent(reference)
    check_arguments(reference, factory, kwargs)
    agent = factory(**kwargs)
    for method in ("reset", "act", "observe"):
        if not callable(getattr(agent, method, None)):
            raise UnknownAgentError(f"{reference!r} built a {type(agent).__name__} without a {method}() method; "
                                    "an agent implements reset(card, seed), act(observation), observe(...)")
    return agent


def _import(target: str, reference: str) -> Callable[..., Any]:
    """Import ``module:attribute``; the current directory is searched too, as ``python -m`` and the
    interactive interpreter do (the ``llmconfig`` script's own directory is the one Python adds)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise UnknownAgentError(f"{reference!r}: write a custom agent as module:Class, e.g. my_pkg.agents:MyAgent")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # after installed packages: a local file never shadows one of them
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        if error.name is not None and f"{module_name}.".startswith(f"{error.name}."):  # the module is not there
            raise UnknownAgentError(
                f"cannot import module {module_name!r} for agent {reference!r}: no {module_name.replace('.', '/')}.py "
                f"in the current directory ({os.getcwd()}), on PYTHONPATH or among installed packages. Run from the "
                "directory that holds it, add that directory to PYTHONPATH, or install its package.") from None
        hint = install_hint(error) or f"{error}; install the package that provides {error.name!r}"
        raise UnknownAgentError(f"module {module_name!r} (agent {reference!r}) needs a missing module: "
                                f"{hint}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise UnknownAgentError(
            f"module {module_name!r} has no attribute {attribute!r} (agent {reference!r})"
        ) from None
