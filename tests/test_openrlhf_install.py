"""The install story of the cluster path: the pinned OpenRLHF, and its wheel's ``tests`` package.

OpenRLHF's wheel installs a top-level ``tests`` package into site-packages. A regular package there
wins over this folder (which has no ``__init__.py``, so pytest puts the folder itself on
``sys.path``): ``from tests.conftest import ...`` imported OpenRLHF's package and failed. Test
modules therefore import their helpers as top-level modules (``conftest``, ``tiny_lm``).
"""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

import pytest

from gymnasium_llmconfig.lab.train.openrlhf import OPENRLHF_VERSION

TESTS = Path(__file__).resolve().parent


def test_no_test_module_imports_through_the_tests_package():
    offenders = []
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.name}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert not offenders, f"import helpers as top-level modules (OpenRLHF ships a `tests` package): {offenders}"


def test_cluster_extra_pins_the_tested_openrlhf():
    requirements = importlib.metadata.requires("gymnasium-llmconfig") or []
    pins = [r for r in requirements if r.startswith("openrlhf") and 'extra == "cluster"' in r]
    assert pins and pins[0].split(";")[0].strip().endswith(f"=={OPENRLHF_VERSION}"), pins


def test_installed_openrlhf_is_the_pinned_release():
    try:
        version = importlib.metadata.version("openrlhf")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("OpenRLHF is not installed (pip install --no-deps openrlhf==0.11.2, as in .ci/run)")
    assert version == OPENRLHF_VERSION
