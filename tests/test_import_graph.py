"""The layers' import arrows point down only (README, Architecture).

Read from the source (the AST of every module), not from what happens to be imported at
run time, so an import inside a function or under `TYPE_CHECKING` counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package → the project packages it must never import
FORBIDDEN: dict[str, frozenset[str]] = {
    "store": frozenset({"worker", "api"}),
    "api": frozenset({"worker"}),
    "rules": frozenset({"store", "api", "worker", "activities", "workflows", "config"}),
    "schemas": frozenset({"store", "api", "worker", "activities", "workflows", "config"}),
    "config": frozenset(
        {"store", "api", "worker", "activities", "workflows", "codec", "temporal_client"}
    ),
    "observability": frozenset({"store", "api", "worker", "activities", "workflows"}),
    "temporal_client": frozenset({"store", "api", "worker", "activities"}),
    "activities": frozenset({"api", "worker"}),
}


def imported_packages(path: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every absolute import in one module."""
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name.split(".")[0]) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


def violations(package: str, forbidden: frozenset[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, target in sorted(imported_packages(path))
        if target in forbidden
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_arrow_runs_back_up(package: str) -> None:
    assert (ROOT / package).is_dir()
    assert violations(package, FORBIDDEN[package]) == []


def test_the_check_sees_an_arrow_when_there_is_one(tmp_path: Path) -> None:
    """The walker itself: a function-level import and a `from x.y import z` both count."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from worker.settings import Settings\nimport api.app\n")
    assert imported_packages(module) == {(2, "worker"), (3, "api")}
