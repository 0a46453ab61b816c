"""A 6-month follow-up answered on the patient's page after the episode closed: the page is
the same (date of birth first, errors beside the items), the score lands in
`followup_measures` (the workflow has ended, so not in Temporal), once; item 9 above zero
shows the crisis resources at once and queues the care team's urgent alert."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from api.workbench.patient_page import PatientPageSettings
from api.workbench.settings import WorkbenchSettings
from rules.messaging import MessagingPolicy
from rules.transitions import CarePhase, Event
from schemas.episode import ContactPreferences
from store.channels.contacts import MessagingChannel, PostgresContacts
from store.channels.patient import PATIENT_CHANNEL, PatientChannel, Sender
from store.followups import FollowupJob, FollowupStatus, followups_of
from store.outbox import OutboxMessage
from store.postgres import PostgresRecordStore
from tests.store.store_builders import batch, move, review, snapshot

PUBLIC = "https://care.example"
BIRTH_DATE = "1984-06-02"
_ANSWER_KEY = re.compile(r'name="answer_key" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Capture:
    """A sender that keeps the link instead of sending it (the SMTP/SMS paths are tested
    in tests/channels)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, message: OutboxMessage, address: str, link: str | None = None) -> None:
        assert link is not None
        self.sent.append((message.message_id, address, link))


@pytest.fixture(scope="module")
def followup_app(
    api_env: WorkflowEnvironment, api_pool: asyncpg.Pool, api_settings: ApiSettings
) -> FastAPI:
    return create_app(
        ApiDeps(client=api_env.client, pool=api_pool, settings=api_settings),
        WorkbenchSettings(),
        PatientPageSettings(),
    )


@pytest.fixture
async def phone(followup_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=followup_app, client=(f"p-{uuid.uuid4().hex}", 1))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield client


async def followup_link(pool: asyncpg.Pool) -> tuple[str, str]:
    """An episode closed months ago whose 6-month follow-up is due today, sent; its
    episode ID and the link the patient received."""
    episode_id = f"fu-{uuid.uuid4().hex[:10]}"
    now = datetime.now(UTC)
    index_at = now - timedelta(days=183)
    closed_at = index_at + timedelta(days=60)
    await PostgresContacts(pool).save_new(
        episode_id,
        ContactPreferences(email=True, email_address="patient@example.org"),
        MessagingPolicy(quiet_hours_start=0, quiet_hours_end=0),
        date.fromisoformat(BIRTH_DATE),
    )
    store = PostgresRecordStore(pool)
    await store.apply(
        batch(
            1,
            snapshot(episode_id, phase=CarePhase.IN_TREATMENT, started_at=index_at),
            reviews=[review(f"{episode_id}-r1", index_at, 16)],
        )
    )
    await store.apply(
        batch(
            2,
            snapshot(
                episode_id,
                phase=CarePhase.CLOSED,
                started_at=index_at,
                closed_at=closed_at,
                updated_at=closed_at,
            ),
            transitions=[
                move(CarePhase.AFTERCARE, CarePhase.CLOSED, Event.AFTERCARE_COMPLETED, closed_at)
            ],
        )
    )
    job = FollowupJob(pool, patient_route=PATIENT_CHANNEL, instance="test:page")
    await job.run_once()
    row = await pool.fetchrow(
        "SELECT * FROM notification_outbox WHERE episode_id = $1 AND recipient_role = 'patient'",
        episode_id,
    )
    assert row is not None, "the follow-up was not sent on its due day"
    capture = Capture()
    senders: dict[MessagingChannel, Sender] = {MessagingChannel.EMAIL: capture}
    await PatientChannel(pool, senders, public_url=PUBLIC).deliver(
        OutboxMessage(
            message_id=row["message_id"],
            episode_id=episode_id,
            program_id=row["program_id"],
            channel=row["channel"],
            template=row["template"],
            recipient_role="patient",
            urgency=row["urgency"],
            params=json.loads(row["params"]),
            attempt=1,
        )
    )
    await job.run_once()  # the link on the follow-up's row
    return episode_id, capture.sent[0][2].removeprefix(PUBLIC)


async def questionnaire(phone: httpx.AsyncClient, path: str) -> str:
    first = await phone.get(path)
    assert first.status_code == 200 and "date of birth" in first.text
    csrf = _CSRF.search(first.text)
    assert csrf is not None
    answer = await phone.post(
        f"{path}/birth-date", data={"csrf_token": csrf.group(1), "birth_date": BIRTH_DATE}
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def form(html: str, items: list[int | None]) -> dict[str, str]:
    key = _ANSWER_KEY.search(html)
    assert key is not None
    values = {"answer_key": key.group(1)}
    for index, value in enumerate(items):
        values[f"phq9.items.{index}"] = "" if value is None else str(value)
    return values


async def test_a_follow_up_answer_is_recorded_in_the_store_once(
    phone: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    episode_id, path = await followup_link(api_pool)
    html = await questionnaire(phone, path)
    missing = await phone.post(path, data=form(html, [1, 1, 1, 1, None, 1, 1, 1, 0]))
    assert missing.status_code == 422 and "Please answer question 5" in missing.text
    assert (await followups_of(api_pool, episode_id))[0].status is FollowupStatus.SENT
    sent = await phone.post(path, data=form(html, [1, 1, 1, 1, 0, 1, 0, 0, 0]))
    assert sent.status_code == 200 and "sent to your care team" in sent.text
    assert "Please reach out now" not in sent.text
    six = (await followups_of(api_pool, episode_id))[0]
    assert (six.status, six.total, six.item9) == (FollowupStatus.ANSWERED, 5, 0)
    again = await phone.post(path, data=form(html, [3] * 9))
    assert again.status_code == 404  # the link is used; the first answer stands
    assert (await followups_of(api_pool, episode_id))[0].total == 5
    reviews = await api_pool.fetchval(
        "SELECT count(*) FROM reviews WHERE episode_id = $1 AND kind = 'patient_measure'",
        episode_id,
    )
    assert reviews == 0  # not sent to the (closed) workflow


async def test_item_9_on_a_follow_up_shows_crisis_resources_and_alerts_the_team(
    phone: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    episode_id, path = await followup_link(api_pool)
    html = await questionnaire(phone, path)
    sent = await phone.post(path, data=form(html, [0, 1, 0, 0, 0, 0, 0, 0, 2]))
    assert sent.status_code == 200
    assert "Please reach out now" in sent.text and "988" in sent.text
    alerts = await api_pool.fetch(
        "SELECT template, recipient_role FROM notification_outbox "
        "WHERE episode_id = $1 AND urgency = 'urgent'",
        episode_id,
    )
    assert [(a["template"], a["recipient_role"]) for a in alerts] == [("safety_alert", "care_team")]
    assert (await followups_of(api_pool, episode_id))[0].item9 == 2
