"""Follow-ups are dated and sent on the program's local calendar (CAREPATH_PROGRAM_TIME_ZONES,
now a setting the worker reads too), as the outcomes report counts days: at a day boundary
in America/Los_Angeles the index day, the due day and the window's close are the local
ones, not UTC's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from config.settings import Settings
from rules.messaging import MessagingPolicy
from rules.transitions import CarePhase, Event
from schemas.episode import ContactPreferences
from store.channels.contacts import PostgresContacts
from store.channels.patient import PATIENT_CHANNEL
from store.channels.routing import route_by_recipient
from store.followups import DueKind, FollowupJob, FollowupPolicy, FollowupStatus, followups_of
from store.postgres import PostgresRecordStore
from tests.channels.builders import Clock
from tests.store.store_builders import batch, move, review, snapshot

WEST = "iop-west"
LA = "America/Los_Angeles"
# 21:00 on 9 March 2025 in Los Angeles (PDT, UTC-7) is already 10 March in UTC.
INDEX_AT = datetime(2025, 3, 10, 4, 0, tzinfo=UTC)
CLOSED_AT = INDEX_AT + timedelta(days=70)


def _policy() -> FollowupPolicy:
    return FollowupPolicy(time_zones={WEST: LA})


async def _closed_west_episode(pool: asyncpg.Pool, policy: FollowupPolicy) -> None:
    await PostgresContacts(pool).save_new(
        "ep1",
        ContactPreferences(sms=True, phone="+15005550123", time_zone=LA),
        MessagingPolicy(questionnaire_asks_birth_date=False),
    )
    store = PostgresRecordStore(pool, channel_for=route_by_recipient(True), followups=policy)
    await store.apply(
        batch(
            1,
            snapshot("ep1", program_id=WEST, phase=CarePhase.IN_TREATMENT, baseline_phq9=15),
            reviews=[review("r1", INDEX_AT, 15)],
        )
    )
    await store.apply(
        batch(
            2,
            snapshot(
                "ep1",
                program_id=WEST,
                phase=CarePhase.CLOSED,
                closed_at=CLOSED_AT,
                updated_at=CLOSED_AT,
            ),
            transitions=[
                move(CarePhase.AFTERCARE, CarePhase.CLOSED, Event.AFTERCARE_COMPLETED, CLOSED_AT)
            ],
        )
    )


def test_the_worker_reads_the_programs_zones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREPATH_PROGRAM_TIME_ZONES", f'{{"{WEST}": "{LA}"}}')
    settings = Settings()
    assert settings.program_time_zone(WEST) == LA
    assert settings.program_time_zone("iop-east") == "UTC"


async def test_a_los_angeles_follow_up_counts_local_days(pool: asyncpg.Pool) -> None:
    policy = _policy()
    await _closed_west_episode(pool, policy)
    six = (await followups_of(pool, "ep1"))[0]
    assert six.due_kind is DueKind.SIX_MONTH
    index_day = date(2025, 3, 9)  # Los Angeles' day of the PHQ-9, not UTC's 10 March
    assert (six.index_date, six.due_on, six.window_closes) == (
        index_day,
        index_day + timedelta(days=182),
        index_day + timedelta(days=242),
    )
    due = six.due_on  # 7 September 2025, PDT
    clock = Clock(datetime(due.year, due.month, due.day, 6, 30, tzinfo=UTC))  # 23:30 the day before
    job = FollowupJob(pool, patient_route=PATIENT_CHANNEL, clock=clock, policy=policy)
    assert (await job.run_once()).sent == 0  # already the due day in UTC, not yet in LA
    clock.now += timedelta(hours=1)  # 00:30 on the due day in Los Angeles
    assert (await job.run_once()).sent == 1
    closes = six.window_closes  # 6 November 2025; PST (UTC-8) by then
    clock.now = datetime(closes.year, closes.month, closes.day, 7, 30, tzinfo=UTC) + timedelta(
        days=1
    )  # 23:30 on the last day in Los Angeles, the next day in UTC
    assert (await job.run_once()).closed_unanswered == 0
    clock.now += timedelta(hours=1)  # 00:30 the day after, in Los Angeles
    assert (await job.run_once()).closed_unanswered == 1
    assert (await followups_of(pool, "ep1"))[0].status is FollowupStatus.NO_RESPONSE


async def test_a_program_not_named_keeps_utc_days(pool: asyncpg.Pool) -> None:
    await _closed_west_episode(pool, FollowupPolicy())
    six = (await followups_of(pool, "ep1"))[0]
    assert six.index_date == date(2025, 3, 10)
