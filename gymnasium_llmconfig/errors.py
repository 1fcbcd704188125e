"""Every user-facing error of the project, under one base class.

A user error is one whose message alone says what was wrong and how to fix
it: the ``llmconfig`` command line catches :class:`LLMConfigError` in one place
and prints that message (exit code 2) instead of a traceback. Each class also
keeps the builtin base it had before this module existed (``ValueError``,
``RuntimeError``, ``KeyError``), so ``except ValueError`` in users' code still
catches it; the modules that raise them re-export them under their old names.
Importing this module imports nothing else.
"""

from __future__ import annotations


class LLMConfigError(Exception):
    """Base of the project's user-facing errors; the message says what to do."""


class InvalidArgument(LLMConfigError, ValueError):
    """A bad argument of a command or function (e.g. ``--budgets``, ``--agent-arg``, ``target=``)."""


class UnknownNameError(LLMConfigError, KeyError):
    """No env, task or suite has this name; the message lists the closest ones."""

    def __str__(self) -> str:  # KeyError would show the message's repr, quotes and all
        return str(self.args[0]) if self.args else ""


class RegistryError(LLMConfigError, ValueError):
    """A registry file is malformed; the message names the file and the key."""


class InvalidConfig(LLMConfigError, ValueError):
    """A proposal that is not a member of the space; the message says why."""


class DataError(LLMConfigError, RuntimeError):
    """Base class of data-layer errors; messages say what to do."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A needed source file is in no known place."""


class DataIntegrityError(DataError):
    """A file exists but its sha256 does not match the pinned one."""


class StoreError(LLMConfigError, ValueError):
    """A log that cannot be used as it is (corrupt, or locked by another writer)."""


class CollectError(LLMConfigError, ValueError):
    """A user error of the sweep collector (bad spec, bad option, busy output directory)."""


class UnknownAgentError(LLMConfigError, ValueError):
    """An agent reference that names nothing importable."""


class BackendError(LLMConfigError, RuntimeError):
    """An LLM backend could not produce a reply (the message says why and what to do)."""


class BackendUnavailable(BackendError):
    """A package or model file the backend needs is missing."""


class BackendAuthError(BackendError):
    """The server refused the credentials (HTTP 401/403)."""


class BackendConnectionError(BackendError):
    """The server could not be reached, or kept failing after all retries."""
