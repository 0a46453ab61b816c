"""The census page pages its episode list by the API's cursor: Next → walks on without
repeating a row, and a cursor changed by hand is refused."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from fastapi import FastAPI

from api.workbench.accounts import PersonRole
from rules.transitions import CarePhase
from store.postgres import PostgresRecordStore
from tests.store.store_builders import batch, snapshot
from tests.workbench.conftest import add_account, person, sign_in

EPISODE_LINK = re.compile(r'href="/app/episodes/(cen-[0-9a-f]+-\d+)"')
NEXT = re.compile(r'href="([^"]+)" rel="next"')


async def test_census_pages_by_cursor(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    program = f"cen-{uuid.uuid4().hex[:6]}"
    store = PostgresRecordStore(api_pool)
    due = datetime(2031, 2, 3, 9, 0, tzinfo=UTC)
    for n in range(30):  # the page holds 25
        episode = snapshot(
            f"{program}-{n:02d}",
            program_id=program,
            phase=CarePhase.IN_TREATMENT,
            next_review_due=due + timedelta(hours=n),
        )
        await store.apply(batch(1, episode))
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM, frozenset({program})))
    assert (await sign_in(browser_client, who)).status_code == 303

    first = await browser_client.get(f"/app/census?program={program}")
    assert first.status_code == 200, first.text
    shown = EPISODE_LINK.findall(first.text)
    assert shown == [f"{program}-{n:02d}" for n in range(25)]
    link = NEXT.search(first.text)
    assert link is not None
    second = await browser_client.get(link.group(1).replace("&amp;", "&"))
    assert second.status_code == 200, (link.group(1), second.text)
    assert EPISODE_LINK.findall(second.text) == [f"{program}-{n:02d}" for n in range(25, 30)]
    assert NEXT.search(second.text) is None and 'rel="first"' in second.text

    other_filter = link.group(1).replace("&amp;", "&") + "&phase=aftercare"
    assert (await browser_client.get(other_filter)).status_code == 422
