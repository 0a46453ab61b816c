"""People's sign-in: Argon2id accounts, cookie flags, CSRF, lockout, idle and absolute
timeouts, and the audit trail of each (real PostgreSQL, the real app in process)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from api.workbench.accounts import PersonRole
from tests.workbench.conftest import PASSWORD, add_account, csrf_of, make_app, person, sign_in


async def events_of(pool: asyncpg.Pool, username: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT event FROM web_auth_events WHERE username = $1 ORDER BY id", username
    )
    return [r["event"] for r in rows]


async def test_sign_in_sets_a_strict_http_only_cookie_and_audits(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    answer = await sign_in(browser_client, who)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/"
    cookie = answer.headers["set-cookie"]
    assert "carepath_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/app" in cookie
    assert "Secure" not in cookie  # plain http here; behind TLS see the next test
    today = await browser_client.get("/app/")
    assert today.status_code == 200, today.text
    assert "Open risk flags" in today.text
    assert await events_of(api_pool, who.username) == ["sign_in"]
    stored = await api_pool.fetchval(
        "SELECT password_hash FROM web_accounts WHERE username = $1", who.username
    )
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)


async def test_cookie_is_secure_behind_tls(wb_app: FastAPI) -> None:
    who = await add_account(wb_app, person(PersonRole.SUPERVISOR))
    transport = httpx.ASGITransport(app=wb_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://carepath.test") as client:
        answer = await sign_in(client, who)
    assert answer.status_code == 303
    assert "Secure" in answer.headers["set-cookie"]


async def test_pages_need_a_session(browser_client: httpx.AsyncClient) -> None:
    answer = await browser_client.get("/app/census")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/app/login?next=%2Fapp%2Fcensus")
    htmx = await browser_client.get("/app/today/lists", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/app/login")


async def test_sign_in_form_needs_its_csrf_token(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    await browser_client.get("/app/login")
    answer = await browser_client.post(
        "/app/login", data={"username": who.username, "password": PASSWORD, "csrf_token": "x"}
    )
    assert answer.status_code == 403
    assert "carepath_session" not in answer.headers.get("set-cookie", "")
    assert await events_of(api_pool, who.username) == []


async def test_forms_after_sign_in_need_the_session_csrf_token(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    await sign_in(browser_client, who)
    forged = await browser_client.post("/app/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    still_in = await browser_client.get("/app/")
    assert still_in.status_code == 200
    out = await browser_client.post("/app/logout", data={"csrf_token": csrf_of(still_in.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/app/login?reason=signed-out"
    assert (await browser_client.get("/app/")).status_code == 303
    assert await events_of(api_pool, who.username) == ["sign_in", "sign_out"]


async def test_wrong_passwords_lock_the_account(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    who = await add_account(wb_app, person(PersonRole.UTILIZATION_REVIEW))
    for _ in range(2):
        wrong = await sign_in(browser_client, who, password="wrong")
        assert wrong.status_code == 401
        assert "not right" in wrong.text
    third = await sign_in(browser_client, who, password="wrong")
    assert third.status_code == 401 and "locked" in third.text
    right = await sign_in(browser_client, who)
    assert right.status_code == 401 and "locked" in right.text
    assert "carepath_session" not in right.headers.get("set-cookie", "")
    assert await events_of(api_pool, who.username) == [
        "sign_in_failed",
        "sign_in_failed",
        "locked_out",
        "locked_out",
    ]
    # When the lock has passed (moved into the past here), the right password works.
    await api_pool.execute(
        "UPDATE web_accounts SET locked_until = now() - interval '1 second' WHERE username = $1",
        who.username,
    )
    assert (await sign_in(browser_client, who)).status_code == 303


async def test_unknown_user_is_refused_and_audited(
    browser_client: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    ghost = person(PersonRole.CARE_TEAM)
    answer = await sign_in(browser_client, ghost)
    assert answer.status_code == 401
    assert await events_of(api_pool, ghost.username) == ["sign_in_failed"]


@pytest.mark.parametrize(
    ("limits", "reason", "event"),
    [
        ({"idle_timeout_seconds": 0.5}, "idle", "idle_timeout"),
        ({"session_lifetime_seconds": 0.5}, "expired", "session_expired"),
    ],
)
@pytest.mark.usefixtures("api_worker")
async def test_sessions_end_after_idle_time_or_lifetime(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    limits: dict[str, float],
    reason: str,
    event: str,
) -> None:
    clock = MovableClock()
    app = make_app(api_env, api_pool, api_settings, **limits)
    app.state.services.deps.clock = clock
    who = await add_account(app, person(PersonRole.CARE_TEAM))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as client:
        assert (await sign_in(client, who)).status_code == 303
        assert (await client.get("/app/")).status_code == 200
        clock.advance(0.3)
        assert (await client.get("/app/")).status_code == 200  # activity: idle clock moves
        clock.advance(0.3)
        if reason == "idle":
            assert (await client.get("/app/")).status_code == 200
            # Background refreshes do not count as activity: the screen still logs off.
            for _ in range(2):
                clock.advance(0.2)
                refresh = await client.get(
                    "/app/today/lists", headers={"X-Carepath-Background": "1"}
                )
                assert refresh.status_code == 200
            clock.advance(0.2)  # 0.6 s after the last person's request, 0.2 after a refresh
        ended = await client.get("/app/")
        assert ended.status_code == 303
        assert f"reason={reason}" in ended.headers["location"]
        assert (await client.get("/app/")).headers["location"].find("reason=") == -1
    assert (await events_of(api_pool, who.username))[-1] == event


class MovableClock:
    """The app's injected clock, moved by the test instead of waiting."""

    def __init__(self) -> None:
        from datetime import UTC, datetime

        self.now = datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)

    def __call__(self) -> object:
        return self.now


async def test_disabling_an_account_ends_its_session(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    assert (await sign_in(browser_client, who)).status_code == 303
    assert (await browser_client.get("/app/")).status_code == 200
    await api_pool.execute(
        "UPDATE web_accounts SET disabled = true WHERE username = $1", who.username
    )
    ended = await browser_client.get("/app/")
    assert ended.status_code == 303 and "/app/login" in ended.headers["location"]
    assert (await events_of(api_pool, who.username))[-1] == "session_expired"
    assert (await sign_in(browser_client, who)).status_code == 401
