"""The layer rules (README, Layout), read from the source with ``ast``: every dependency points one way.

core (``gymnasium_llmconfig/`` outside ``lab/``) <- ``wrappers/`` <- ``agents/`` <- top layer (``lab/``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: (package directory, the subdirectory it excludes, module prefixes nothing in it may import)
RULES = [
    ("gymnasium_llmconfig", "gymnasium_llmconfig/lab", ("agents", "wrappers", "gymnasium_llmconfig.lab")),
    # agents get training data only through what fit() is handed, never by loading envs themselves
    ("agents", None, ("gymnasium_llmconfig.tasks", "wrappers", "gymnasium_llmconfig.lab",
                      "gymnasium_llmconfig.registry.load_problem")),
    ("wrappers", None, ("agents", "gymnasium_llmconfig.lab")),
]

def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, anywhere in it (functions and TYPE_CHECKING blocks included)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations() -> set[tuple[str, str]]:
    """(file, forbidden module prefix it imports) for every import against :data:`RULES`."""
    found = set()
    for package, excluded, forbidden in RULES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if excluded and relative.startswith(excluded + "/"):
                continue
            imported = imported_modules(path)
            found.update((relative, _imported_part(imported, prefix)) for prefix in forbidden
                         if any(_within(module, prefix) for module in imported))
    return found


def _imported_part(imported: set[str], prefix: str) -> str:
    """The shortest imported module under ``prefix`` (``wrappers.matching``, not ``wrappers.matching.f``)."""
    return min((m for m in imported if _within(m, prefix)), key=len)


def test_imported_modules_sees_every_form(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import agents.zoo\nfrom wrappers import matching\ndef f():\n    from . import x\n"
                      "    from gymnasium_llmconfig.lab.cli import app\n")
    assert imported_modules(source) == {"agents.zoo", "wrappers", "wrappers.matching",
                                        "gymnasium_llmconfig.lab.cli", "gymnasium_llmconfig.lab.cli.app"}


def test_dependencies_point_one_way() -> None:
    unexpected = violations()
    assert not unexpected, "imports against the layer rules (README, Layout): " + ", ".join(
        f"{path} imports {module}" for path, module in sorted(unexpected))


def test_the_rules_catch_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gymnasium_llmconfig" / "lab").mkdir(parents=True)
    (tmp_path / "gymnasium_llmconfig" / "env.py").write_text("from agents.zoo import make_agent\n")
    (tmp_path / "gymnasium_llmconfig" / "lab" / "cli.py").write_text("import agents\n")
    for package in ("agents", "wrappers"):
        (tmp_path / package).mkdir()
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert violations() == {("gymnasium_llmconfig/env.py", "agents.zoo")}
