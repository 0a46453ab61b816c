"""The API's pool releases connections without asyncpg's reset round trip
(store/pool.py, `reset_sessions=False`). That is only right while nothing the API runs
leaves session state on a pooled connection: no session advisory lock, no LISTEN, no
session-level SET or set_config, no cursor WITH HOLD, no temporary table. The source of
api/ and store/ is read for them here; the two places in store/ that do take session
state are named, with why neither runs on the API's pool."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path

import asyncpg
from asyncpg.connection import LoggedQuery

from store.pool import open_pool

ROOT = Path(__file__).resolve().parents[2]

# Session state in SQL text (string literals other than docstrings), statement by
# statement; the house writes SQL keywords in capitals.
SESSION_STATE = [
    re.compile(r"pg_(try_)?advisory_lock(_shared)?\s*\(", re.I),
    re.compile(r"^\s*(UN)?LISTEN\b"),
    re.compile(r"^\s*SET\s+(?!LOCAL\b|TRANSACTION\b)"),
    re.compile(r"^\s*RESET\b"),
    re.compile(r"\bset_config\s*\(", re.I),
    re.compile(r"\bWITH\s+HOLD\b", re.I),
    re.compile(r"\bCREATE\s+(GLOBAL\s+|LOCAL\s+)?TEMP(ORARY)?\b", re.I),
]
# Python calls that take session state on a connection.
SESSION_CALLS = {"add_listener", "add_log_listener"}

# Known, and not on the API's pool:
ALLOWED = {
    # open_pool runs the migrations on a connection of its own, closed afterwards.
    "store/migrate.py",
    # The outbox dispatcher's LISTEN, in the worker process (worker/__main__.py).
    "store/outbox_wake.py",
}


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and (body := node.body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    }
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings:
                continue
            for statement in node.value.split(";"):
                found += [
                    f"{node.lineno}: {statement.strip()[:60]}"
                    for pattern in SESSION_STATE
                    if pattern.search(statement)
                ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SESSION_CALLS
        ):
            found.append(f"{node.lineno}: {node.func.attr}()")
    return found


def test_nothing_in_api_or_store_leaves_session_state_on_a_pooled_connection() -> None:
    found = {
        rel: hits
        for package in ("api", "store")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (rel := path.relative_to(ROOT).as_posix()) not in ALLOWED and (hits := _findings(path))
    }
    assert found == {}


def test_the_check_sees_session_state_when_there_is_some(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        '"""SET x = 1 in a docstring is prose."""\n'
        'A = "SELECT pg_advisory_lock($1)"\n'
        'B = "UPDATE t SET x = 1; SET statement_timeout = 0"\n'
        'C = "UPDATE t SET x = 1"\n'
        'D = "SET LOCAL lock_timeout = 5"\n'
        "conn.add_listener('c', f)\n"
    )
    assert [hit.split(":")[0] for hit in _findings(module)] == ["2", "3", "6"]


def test_the_allowed_places_stay_off_the_apis_pool() -> None:
    """api/ never starts the outbox dispatcher nor runs migrations on its own pool."""
    for path in sorted((ROOT / "api").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "outbox_wake" not in text and "outbox_runner" not in text, path
        assert "store.migrate" not in text, path


async def test_a_release_sends_nothing_and_an_open_transaction_is_still_rolled_back(
    api_pg_dsn: str, api_pool: asyncpg.Pool
) -> None:
    schema: str = await api_pool.fetchval("SELECT current_schema()")
    seen: list[str] = []

    def log(query: LoggedQuery) -> None:
        seen.append(query.query)

    async def watch(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(log)

    pool = await open_pool(
        api_pg_dsn,
        min_size=1,
        max_size=1,
        server_settings={"search_path": schema},
        reset_sessions=False,
        init=watch,
    )
    try:
        assert await pool.fetchval("SELECT 1") == 1
        conn = await pool.acquire()
        await conn.execute("BEGIN")  # left open, as a cancelled request might
        await pool.release(conn)
        async with pool.acquire() as again:  # max_size=1: the same connection
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT current_setting('search_path')") == schema
        for _ in range(5):
            await asyncio.sleep(0)  # query loggers run from call_soon
    finally:
        await pool.close()
    assert seen == [
        "SELECT 1",
        "BEGIN",
        "ROLLBACK",
        "SELECT current_setting('search_path')",
    ]
