"""The workbench episode page shows the episode's 6-/12-month follow-ups (scheduled, sent,
answered with the score and item 9, no response, not sent and why) in their own section
and on the timeline. The rows are written by the closure's records batch, as the store
writes them when an episode closes (the workflow is the API tests' own)."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import httpx
from fastapi import FastAPI

from api.workbench.accounts import PersonRole
from rules.transitions import CarePhase, Event
from store.channels.contacts import DECLINED
from store.postgres import PostgresRecordStore
from tests.api import bodies
from tests.api.conftest import (  # noqa: F401  (fixtures shared with the API tests)
    PROGRAM,
    api_env,
    api_pg_dsn,
    api_pool,
    api_settings,
    api_worker,
    bearer,
)
from tests.store.store_builders import T0, batch, move, review, snapshot
from tests.workbench.conftest import (  # noqa: F401  (fixtures shared with the workbench tests)
    add_account,
    browser_client,
    person,
    sign_in,
    wb_app,
)


async def _episode_with_followups(client: httpx.AsyncClient, pool: asyncpg.Pool) -> str:
    body = bodies.episode()
    started = await client.post("/v1/episodes", json=body, headers=bearer("tok-clinic"))
    assert started.status_code == 201, started.text
    episode_id = str(body["episode_id"])
    closed_at = T0 + timedelta(days=70)
    # The closure's batch as the store gets it (older than what the workflow wrote, so the
    # episode's own row stays): it schedules the two follow-ups from the index PHQ-9.
    await PostgresRecordStore(pool).apply(
        batch(
            9_000,
            snapshot(
                episode_id,
                program_id=PROGRAM,
                phase=CarePhase.CLOSED,
                closed_at=closed_at,
                updated_at=T0,
            ),
            reviews=[review(f"{episode_id}-r1", T0, 16)],
            transitions=[
                move(CarePhase.AFTERCARE, CarePhase.CLOSED, Event.AFTERCARE_COMPLETED, closed_at)
            ],
        )
    )
    # Then, as the follow-up job and the patient's page record them: the 6-month one
    # answered with item 9 above zero, the 12-month one not sent (the patient declined).
    answered_at = T0 + timedelta(days=183)
    await pool.execute(
        """
        UPDATE followup_measures SET status = 'answered', sent_at = $2, answered_at = $3,
            total = 11, item9 = 1, answers = '[2,2,1,1,1,1,1,1,1]'
        WHERE episode_id = $1 AND due_kind = '6_month'
        """,
        episode_id,
        answered_at - timedelta(days=1),
        answered_at,
    )
    await pool.execute(
        """
        UPDATE followup_measures SET not_sent_reason = $2, updated_at = $3
        WHERE episode_id = $1 AND due_kind = '12_month'
        """,
        episode_id,
        DECLINED,
        T0 + timedelta(days=365),
    )
    return episode_id


def _item(html: str, kind: str) -> str:
    found = re.search(rf'<li data-followup="{kind}"[^>]*>.*?</li>', html, re.S)
    assert found is not None, kind
    return found.group(0)


async def test_the_episode_page_shows_the_follow_ups(
    wb_app: FastAPI,  # noqa: F811
    browser_client: httpx.AsyncClient,  # noqa: F811
    api_pool: asyncpg.Pool,  # noqa: F811
) -> None:
    episode_id = await _episode_with_followups(browser_client, api_pool)
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    assert (await sign_in(browser_client, who)).status_code == 303
    page = await browser_client.get(f"/app/episodes/{episode_id}")
    assert page.status_code == 200
    assert "Follow-up questionnaires after closure" in page.text
    six = _item(page.text, "6_month")
    assert 'data-status="answered"' in six
    assert "score <strong>11</strong>" in six and "item 9: 1" in six
    twelve = _item(page.text, "12_month")
    assert 'data-status="scheduled"' in twelve and f"not sent:</strong> {DECLINED}" in twelve
    # On the timeline too: scheduled, answered (the score), not sent (why).
    assert "followup scheduled (6 month)" in page.text
    assert "followup answered (6 month)" in page.text and "PHQ-9 11." in page.text
    assert "followup not sent (12 month)" in page.text


async def test_an_episode_without_follow_ups_has_no_such_section(
    wb_app: FastAPI,  # noqa: F811
    browser_client: httpx.AsyncClient,  # noqa: F811
) -> None:
    body = bodies.episode()
    started = await browser_client.post("/v1/episodes", json=body, headers=bearer("tok-clinic"))
    assert started.status_code == 201, started.text
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    assert (await sign_in(browser_client, who)).status_code == 303
    page = await browser_client.get(f"/app/episodes/{body['episode_id']}")
    assert page.status_code == 200
    assert "data-followups" not in page.text
