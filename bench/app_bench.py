"""Workbench page latencies beside the API calls that carry their data, in one run.

`app_today_p99_ms` (a signed-in Today page, every program: the census-sized read) is set
beside `api_census_p99_ms` (`GET /v1/census`), and `app_episode_p99_ms` (an episode page)
beside `api_state_p99_ms` (`GET /v1/episodes/{id}`); the target is a page costing at most
three times its API call. Requests go one at a time over a local socket, server side
included (uvicorn), as a person's browser would send them.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI

from api.workbench.accounts import PersonRole
from api.workbench.web import Workbench
from bench.roundtrips import RoundTrips

PASSWORD = "bench-password-not-secret"


async def _latency_ms(
    samples: int, call: Callable[[int], Awaitable[httpx.Response]]
) -> tuple[float, float]:
    """(p50, p99) in milliseconds over `samples` calls made one after another."""
    took: list[float] = []
    for i in range(samples):
        began = time.perf_counter()
        answer = await call(i)
        took.append((time.perf_counter() - began) * 1000)
        answer.raise_for_status()
    return statistics.median(took), statistics.quantiles(took, n=100)[98]


async def _signed_in_browser(app: FastAPI, url: str) -> httpx.AsyncClient:
    workbench: Workbench = app.state.workbench
    username = f"bench-{uuid.uuid4().hex[:8]}"
    await workbench.accounts.create(
        username=username,
        password=PASSWORD,
        role=PersonRole.CARE_TEAM,
        programs=frozenset({"*"}),
        actor=username,
        display_name="Bench clinician",
    )
    browser = httpx.AsyncClient(base_url=url, timeout=60)
    form = await browser.get("/app/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    signed = await browser.post(
        "/app/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert signed.status_code == 303, signed.text
    return browser


async def measure_app_pages(
    app: FastAPI,
    url: str,
    api: httpx.AsyncClient,
    episode_ids: list[str],
    watched: RoundTrips,
    samples: int = 200,
) -> dict[str, float]:
    """`api` carries a care-team key that sees every program; pages use a person's session.
    `watched` logs the API pool's statements: each page's are counted (and listed on
    stderr)."""
    browser = await _signed_in_browser(app, url)
    statements: dict[str, RoundTrips] = {}

    async def measured(
        name: str, call: Callable[[int], Awaitable[httpx.Response]]
    ) -> tuple[float, float]:
        before = watched.copy()
        latency = await _latency_ms(samples, call)
        await asyncio.sleep(0.2)  # query loggers run soon after each statement
        statements[name] = watched.since(before)
        return latency

    try:

        def episode(i: int) -> str:
            return episode_ids[i % len(episode_ids)]

        pages = {
            "api_census": await measured("api_census", lambda _i: api.get("/v1/census")),
            "app_today": await measured("app_today", lambda _i: browser.get("/app/")),
            "api_state": await measured(
                "api_state", lambda i: api.get(f"/v1/episodes/{episode(i)}")
            ),
            "app_episode": await measured(
                "app_episode", lambda i: browser.get(f"/app/episodes/{episode(i)}")
            ),
        }
    finally:
        await browser.aclose()
    figures: dict[str, float] = {}
    for name, spent in statements.items():
        figures[f"{name}_pg_statements"] = spent.count / samples
        print(f"bench: {name} statements: {spent.report(samples)}", file=sys.stderr, flush=True)
    for name, (p50, p99) in pages.items():
        figures[f"{name}_p50_ms"] = p50
        figures[f"{name}_p99_ms"] = p99
    figures["app_today_over_api_census"] = (
        figures["app_today_p99_ms"] / figures["api_census_p99_ms"]
    )
    figures["app_episode_over_api_state"] = (
        figures["app_episode_p99_ms"] / figures["api_state_p99_ms"]
    )
    return figures
