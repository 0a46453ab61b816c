"""The workbench under test: the API app (same fixtures as tests/api: the CareEpisode
worker on the time-skipping server, PostgreSQL in a migrated schema of its own) with
people's accounts, and helpers to sign in and read pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from api.workbench.accounts import PersonRole
from api.workbench.settings import WorkbenchSettings
from api.workbench.web import Workbench
from tests.api.conftest import (  # noqa: F401  (fixtures shared with the API tests)
    OTHER_PROGRAM,
    PROGRAM,
    api_env,
    api_pg_dsn,
    api_pool,
    api_settings,
    api_worker,
)

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Person:
    username: str
    role: PersonRole
    actor: str
    programs: frozenset[str]


def person(role: PersonRole, programs: frozenset[str] = frozenset({PROGRAM})) -> Person:
    suffix = uuid.uuid4().hex[:8]
    return Person(f"{role.value}-{suffix}", role, f"{role.value}-{suffix}", programs)


async def add_account(app: FastAPI, who: Person) -> Person:
    workbench: Workbench = app.state.workbench
    await workbench.accounts.create(
        username=who.username,
        password=PASSWORD,
        role=who.role,
        programs=who.programs,
        actor=who.actor,
        display_name=f"Test {who.role.value}",
    )
    return who


def make_app(
    env: WorkflowEnvironment, pool: asyncpg.Pool, settings: ApiSettings, **workbench: float
) -> FastAPI:
    return create_app(
        ApiDeps(client=env.client, pool=pool, settings=settings),
        WorkbenchSettings(**workbench),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def wb_app(
    api_env: WorkflowEnvironment,  # noqa: F811
    api_pool: asyncpg.Pool,  # noqa: F811
    api_settings: ApiSettings,  # noqa: F811
    # requested for its side effect: the episode worker runs
    api_worker: None,  # noqa: F811, ARG001
) -> FastAPI:
    return make_app(api_env, api_pool, api_settings, lockout_after_failures=3)


@pytest.fixture
async def browser_client(wb_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh cookie jar per test (one person's browser), in process."""
    transport = httpx.ASGITransport(app=wb_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as client:
        yield client


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, who: Person, password: str = PASSWORD
) -> httpx.Response:
    form = await client.get("/app/login")
    return await client.post(
        "/app/login",
        data={
            "username": who.username,
            "password": password,
            "csrf_token": csrf_of(form.text),
            "next": "/app/",
        },
    )
