"""Saving fitted agents without pickles: tensors in safetensors, everything else in JSON.

A results directory is something people share; loading a pickle from it would
run whatever code its author put there. As stable-baselines3 stores a policy,
a fitted agent is stored as a directory of two plain files:

* ``agent.json``: the agent's class, its constructor arguments and its fitted
  state as JSON, with every array or tensor replaced by a reference
  ``{"tensor": key}``;
* ``tensors.safetensors``: those arrays and tensors, by key.

Objects in the fitted state (small dataclasses, encoders) are written as
their attribute dicts and rebuilt only from the classes the loading agent
names in ``state_types``: a file cannot make the loader build anything else.
An object is saved as the first listed class it is an instance of, so a
subclass comes back as that class with all its attributes (an architecture's
per-layer parameter as a plain ``Parameter``; encoders only read its fields).
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from gymnasium_llmconfig.errors import LLMConfigError
from gymnasium_llmconfig.storage import atomic_write

AGENT_JSON = "agent.json"
TENSORS = "tensors.safetensors"
FORMAT = 1


class PersistenceError(LLMConfigError, ValueError):
    """A saved agent that cannot be loaded (the message says which file and why)."""


class SavedAgent:
    """Mixin: ``save(path)`` / ``load(path)`` for an agent whose fitted state is :meth:`fitted_state`.

    Every constructor argument must be kept as an attribute of the same name
    (it is saved from there); ``state_types`` lists the classes the fitted
    state holds besides JSON values, numpy arrays and torch tensors.
    """

    state_types: tuple[type, ...] = ()

    def fitted_state(self) -> Any:
        """What ``fit`` learned, as JSON values, arrays, tensors and ``state_types`` objects."""
        raise NotImplementedError

    def restore_state(self, state: Any) -> None:
        """Take back what :meth:`fitted_state` returned."""
        raise NotImplementedError

    def to_files(self) -> dict[str, bytes]:
        """The saved agent as file name -> bytes (what :meth:`save` writes)."""
        tensors: dict[str, torch.Tensor] = {}
        document = {"format": FORMAT, "class": _qualified(type(self)), "init": constructor_arguments(self),
                    "state": _encode(self.fitted_state(), tensors, self.state_types)}
        return {AGENT_JSON: (json.dumps(document, indent=1, allow_nan=False) + "\n").encode(),
                TENSORS: save_tensors(tensors)}

    @classmethod
    def from_files(cls, files: Mapping[str, bytes]) -> Any:
        """An agent rebuilt from :meth:`to_files` output."""
        missing = [name for name in (AGENT_JSON, TENSORS) if name not in files]
        if missing:
            raise PersistenceError(f"a saved {cls.__name__} needs {', '.join(missing)}; save it with agent.save(path)")
        document = json.loads(files[AGENT_JSON])
        if document.get("format") != FORMAT or document.get("class") != _qualified(cls):
            raise PersistenceError(f"{AGENT_JSON} holds a {document.get('class')!r} (format "
                                   f"{document.get('format')}), not a {_qualified(cls)} of format {FORMAT}")
        agent = cls(**document["init"])
        types = {_qualified(t): t for t in cls.state_types}
        agent.restore_state(_decode(document["state"], load_tensors(files[TENSORS]), types))
        return agent

    def save(self, path: str | Path) -> Path:
        """Write the agent into directory ``path`` (tensors first, so a readable ``agent.json`` means complete)."""
        path = Path(path)
        files = self.to_files()
        for name in (TENSORS, AGENT_JSON):
            atomic_write(path / name, lambda handle, data=files[name]: handle.write(data), binary=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Any:
        """The agent saved in directory ``path`` by :meth:`save`."""
        path = Path(path)
        if not (path / AGENT_JSON).is_file():
            raise PersistenceError(f"{path} holds no saved agent ({AGENT_JSON} is missing); save one with "
                                   "agent.save(path) after agent.fit(...)")
        return cls.from_files({name: (path / name).read_bytes() for name in (AGENT_JSON, TENSORS)
                               if (path / name).is_file()})


def constructor_arguments(agent: Any) -> dict[str, Any]:
    """The agent's constructor arguments, read back from its attributes of the same names."""
    names = [name for name, p in inspect.signature(type(agent)).parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return {name: _plain(getattr(agent, name)) for name in names}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _qualified(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _encode(value: Any, tensors: dict[str, torch.Tensor], types: tuple[type, ...]) -> Any:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        key = str(len(tensors))
        is_numpy = isinstance(value, np.ndarray)
        tensors[key] = (torch.from_numpy(np.ascontiguousarray(value)) if is_numpy else value.detach()).clone()
        return {"tensor": key, "numpy": is_numpy}
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return _encode(value.item(), tensors, types)
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, tensors, types) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors, types) for v in value]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"cannot save a mapping with non-text keys: {list(value)[:3]}")
        return {"dict": {k: _encode(v, tensors, types) for k, v in value.items()}}
    listed = next((t for t in types if isinstance(value, t)), None)
    if listed is None:
        raise TypeError(f"cannot save a {type(value).__qualname__}: add its class to the agent's state_types")
    return {"object": _qualified(listed), "attributes": _encode(dict(value.__getstate__()), tensors, types)}


def _decode(value: Any, tensors: Mapping[str, torch.Tensor], types: Mapping[str, type]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors, types) for v in value]
    if not isinstance(value, dict):
        return value
    if "tensor" in value:
        tensor = tensors[value["tensor"]]
        return tensor.numpy() if value["numpy"] else tensor
    if "float" in value:
        return float(value["float"])
    if "tuple" in value:
        return tuple(_decode(v, tensors, types) for v in value["tuple"])
    if "dict" in value:
        return {k: _decode(v, tensors, types) for k, v in value["dict"].items()}
    if value.get("object") not in types:
        raise PersistenceError(f"the saved state holds a {value.get('object')!r}, which this agent does not "
                               f"load (it loads {', '.join(types) or 'no objects'})")
    obj = object.__new__(types[value["object"]])
    obj.__dict__.update(_decode(value["attributes"], tensors, types))
    return obj
