"""All SQL lives beside its migrations, in store/ (issue 9 item 5): api/ calls the store's
typed functions and holds no statement of its own. Read from the source: every string
literal in api/ (docstrings aside) is checked for the shape of a SQL statement."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The statement shapes, as the house writes them (keywords in capitals).
SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b"
    r"|\bSELECT\s+(EXISTS|count|pg_\w+)\b"
    r"|\bINSERT\s+INTO\b"
    r"|\bUPDATE\s+\w+(\s+\w+)?\s+SET\b"
    r"|\bDELETE\s+FROM\b"
    r"|\b(CREATE|ALTER|DROP)\s+(TABLE|INDEX|TRIGGER|FUNCTION)\b"
    r"|\bON\s+CONFLICT\b"
)


def sql_literals(path: Path) -> list[str]:
    """`line: text` of every string literal in the module that reads as SQL."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and (body := node.body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    }
    found = [
        (node.lineno, " ".join(node.value.split())[:70])
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and SQL.search(node.value)
    ]
    return [f"{line}: {text}" for line, text in sorted(found)]


def test_api_holds_no_sql() -> None:
    found = {
        path.relative_to(ROOT).as_posix(): hits
        for path in sorted((ROOT / "api").rglob("*.py"))
        if (hits := sql_literals(path))
    }
    assert found == {}


def test_the_check_sees_sql_when_there_is_some(tmp_path: Path) -> None:
    """The reader itself: SQL in a plain or f-string is found, prose and docstrings not."""
    module = tmp_path / "m.py"
    module.write_text(
        "def f(t):\n"
        '    """SELECT x FROM y, as a docstring, is prose."""\n'
        '    a = "SELECT 1 FROM web_accounts WHERE username = $1"\n'
        '    b = f"UPDATE web_sessions s SET last_seen_at = $2 WHERE {t}"\n'
        '    c = "Select a program from the list"\n'
        '    d = "INSERT INTO api_calls (id) VALUES ($1)"\n'
        '    e = "SELECT EXISTS (SELECT 1)"\n'
    )
    assert [hit.split(":")[0] for hit in sql_literals(module)] == ["3", "4", "6", "7"]
