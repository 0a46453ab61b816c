"""The 6- and 12-month follow-up questionnaires after closure (issue 12, "measures that land
in the quality windows"), on real PostgreSQL, the real outbox dispatcher and patient
channel, the local SMS gateway, and a clock the test moves: scheduled by the closure's
batch, sent on the due day with a working link, reminded once, recorded once, and
`no_response` when the window closes unanswered."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta

import asyncpg

from rules.messaging import MessagingPolicy
from rules.outcomes import Score
from rules.transitions import CarePhase, Event
from schemas.episode import Consents, ContactPreferences, EpisodeStart, PatientRef
from store.channels import care_tasks
from store.channels.contacts import PostgresContacts
from store.channels.links import Instrument, PostgresLinks
from store.channels.patient import PATIENT_CHANNEL
from store.channels.routing import route_by_recipient
from store.followups import (
    DueKind,
    FollowupJob,
    FollowupPolicy,
    FollowupStatus,
    followup_of_link,
    followups_of,
    plan_followups,
    record_answer,
    run_followups,
)
from store.gauges import care_gauges
from store.health import FOLLOWUP_JOB
from store.patients import PostgresPatients
from store.postgres import DEFAULT_CHANNEL, PostgresRecordStore
from tests.channels.builders import PUBLIC_URL, Clock, sms_dispatcher
from tests.channels.sms_gateway import Gateway
from tests.store.store_builders import T0, batch, move, review, snapshot

PHONE = "+15005550123"
TOKEN_IN_TEXT = re.compile(re.escape(PUBLIC_URL) + r"/p/([A-Za-z0-9_-]+)")
CLOSED_AT = T0 + timedelta(days=70)
INDEX_DAY = T0.date()
# The 6-month follow-up's due day, at 15:00 in Chicago (outside quiet hours).
SIX_MONTHS = datetime.combine(INDEX_DAY + timedelta(days=182), datetime.min.time(), UTC) + (
    timedelta(hours=21)
)


async def _closed_episode(
    pool: asyncpg.Pool,
    episode_id: str = "ep1",
    *,
    index_phq9: int = 14,
    event: Event = Event.AFTERCARE_COMPLETED,
    sms: bool = True,
    messaging_consent: bool = True,
) -> None:
    await PostgresContacts(pool).save_new(
        episode_id,
        ContactPreferences(sms=sms, phone=PHONE, time_zone="America/Chicago"),
        MessagingPolicy(questionnaire_asks_birth_date=False),
        messaging_consent=messaging_consent,
    )
    store = PostgresRecordStore(pool, channel_for=route_by_recipient(True))
    await store.apply(
        batch(
            1,
            snapshot(episode_id, phase=CarePhase.IN_TREATMENT, baseline_phq9=index_phq9),
            reviews=[review("r1", T0, index_phq9), review("r2", T0 + timedelta(days=30), 8)],
        )
    )
    await store.apply(
        batch(
            2,
            snapshot(episode_id, phase=CarePhase.CLOSED, closed_at=CLOSED_AT, updated_at=CLOSED_AT),
            transitions=[move(CarePhase.AFTERCARE, CarePhase.CLOSED, event, CLOSED_AT)],
        )
    )


def _job(pool: asyncpg.Pool, clock: Clock) -> FollowupJob:
    return FollowupJob(pool, patient_route=PATIENT_CHANNEL, clock=clock, instance="test:1")


def _token(text: str) -> str:
    found = TOKEN_IN_TEXT.search(text)
    assert found, text
    return found.group(1)


def test_the_plan_follows_the_index_phq9_and_the_policy_windows() -> None:
    scores = [Score(date(2025, 3, 3), 8), Score(date(2025, 3, 10), 15)]
    planned = {p.due_kind: p for p in plan_followups(scores, date(2025, 5, 1), FollowupPolicy())}
    six, twelve = planned[DueKind.SIX_MONTH], planned[DueKind.TWELVE_MONTH]
    assert six.index_date == date(2025, 3, 10) and six.index_total == 15  # the first > 9
    assert (six.window_opens, six.due_on, six.window_closes) == (
        date(2025, 3, 10) + timedelta(days=122),
        date(2025, 3, 10) + timedelta(days=182),
        date(2025, 3, 10) + timedelta(days=242),
    )
    assert (twelve.window_opens, twelve.due_on, twelve.window_closes) == (
        date(2025, 3, 10) + timedelta(days=305),
        date(2025, 3, 10) + timedelta(days=365),
        date(2025, 3, 10) + timedelta(days=425),
    )
    assert plan_followups([Score(date(2025, 3, 3), 9)], date(2025, 5, 1), FollowupPolicy()) == []
    # Closed after the 6-month window: only the 12-month one, due on the closure day if late.
    late = plan_followups(scores, date(2026, 1, 20), FollowupPolicy())
    assert [(p.due_kind, p.due_on) for p in late] == [(DueKind.TWELVE_MONTH, date(2026, 3, 10))]
    later = plan_followups(scores, date(2026, 4, 1), FollowupPolicy())
    assert [(p.due_kind, p.due_on) for p in later] == [(DueKind.TWELVE_MONTH, date(2026, 4, 1))]


async def test_closure_schedules_both_follow_ups_once(pool: asyncpg.Pool) -> None:
    await _closed_episode(pool)
    rows = await followups_of(pool, "ep1")
    assert [(r.due_kind, r.status, r.instrument) for r in rows] == [
        (DueKind.SIX_MONTH, FollowupStatus.SCHEDULED, Instrument.PHQ9),
        (DueKind.TWELVE_MONTH, FollowupStatus.SCHEDULED, Instrument.PHQ9),
    ]
    assert {r.index_date for r in rows} == {INDEX_DAY}
    assert rows[0].due_on == INDEX_DAY + timedelta(days=182)
    # The same closure batch again (a retried activity) schedules nothing more.
    store = PostgresRecordStore(pool)
    await store.apply(
        batch(
            2,
            snapshot("ep1", phase=CarePhase.CLOSED, closed_at=CLOSED_AT, updated_at=CLOSED_AT),
            transitions=[
                move(CarePhase.AFTERCARE, CarePhase.CLOSED, Event.AFTERCARE_COMPLETED, CLOSED_AT)
            ],
        )
    )
    assert await pool.fetchval("SELECT count(*) FROM followup_measures") == 2


async def test_no_follow_ups_for_an_episode_entered_in_error_or_without_an_index(
    pool: asyncpg.Pool,
) -> None:
    await _closed_episode(pool, "ep1", event=Event.ENTERED_IN_ERROR)
    await _closed_episode(pool, "ep2", index_phq9=7)
    assert await pool.fetchval("SELECT count(*) FROM followup_measures") == 0


async def test_sent_on_the_due_day_with_a_link_reminded_once_and_answered_once(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _closed_episode(pool)
    clock = Clock(SIX_MONTHS - timedelta(days=1))
    job = _job(pool, clock)
    dispatcher = sms_dispatcher(pool, url, clock, questionnaire_links=True)
    assert (await job.run_once()).sent == 0  # not due yet
    clock.now = SIX_MONTHS
    assert (await job.run_once()).sent == 1
    assert (await job.run_once()).sent == 0  # one message per follow-up
    outbox = await pool.fetch(
        "SELECT channel, template, recipient_role, params FROM notification_outbox"
    )
    assert [(r["channel"], r["template"], r["recipient_role"]) for r in outbox] == [
        (PATIENT_CHANNEL, "new_message", "patient")
    ]
    assert (await dispatcher.dispatch_due()).sent == 1
    assert "phq9" not in fake.sent[0].body.lower()  # content-free
    token = _token(fake.sent[0].body)
    await job.run_once()
    six = (await followups_of(pool, "ep1"))[0]
    assert six.status is FollowupStatus.SENT and six.sent_at == SIX_MONTHS
    link = await PostgresLinks(pool).open_link(token, clock.now)
    assert link is not None and six.link_id == link.link_id
    assert await followup_of_link(pool, link.link_id) is DueKind.SIX_MONTH

    clock.now = SIX_MONTHS + timedelta(days=2, minutes=1)  # the link's one reminder
    assert (await dispatcher.dispatch_due()).sent == 1
    await job.run_once()
    assert (await followups_of(pool, "ep1"))[0].reminded_at == clock.now

    answers = [1, 0, 1, 0, 1, 0, 0, 0, 0]
    first = await record_answer(
        pool,
        link_id=link.link_id,
        instrument=Instrument.PHQ9,
        answers=answers,
        now=clock.now,
        care_team_route=DEFAULT_CHANNEL,
    )
    assert first is not None and (first.total, first.item9, first.urgent, first.new) == (
        3,
        0,
        False,
        True,
    )
    again = await record_answer(
        pool,
        link_id=link.link_id,
        instrument=Instrument.PHQ9,
        answers=[3] * 9,
        now=clock.now,
        care_team_route=DEFAULT_CHANNEL,
    )
    assert again is not None and (again.total, again.new) == (3, False)  # the first stands
    six = (await followups_of(pool, "ep1"))[0]
    assert (six.status, six.total, six.item9, six.answers) == (
        FollowupStatus.ANSWERED,
        3,
        0,
        answers,
    )
    assert await PostgresLinks(pool).open_link(token, clock.now) is None  # used
    assert (
        await pool.fetchval("SELECT count(*) FROM notification_outbox WHERE urgency = 'urgent'")
        == 0
    )
    # Past the 6-month window's last day: the answered one stays answered.
    clock.now = SIX_MONTHS + timedelta(days=61)
    assert (await job.run_once()).closed_unanswered == 0
    assert (await followups_of(pool, "ep1"))[0].status is FollowupStatus.ANSWERED
    beats = await pool.fetchval(
        "SELECT count(*) FROM service_heartbeats WHERE service = $1", FOLLOWUP_JOB
    )
    assert beats == 1  # one instance, one row
    gauges = await care_gauges(pool, expiring_within_days=7)
    assert gauges.followup_job_seconds_since_pass is not None


async def test_item_9_on_a_follow_up_alerts_the_care_team_once(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _closed_episode(pool)
    clock = Clock(SIX_MONTHS)
    await _job(pool, clock).run_once()
    await sms_dispatcher(pool, url, clock, questionnaire_links=True).dispatch_due()
    link = await PostgresLinks(pool).open_link(_token(fake.sent[0].body), clock.now)
    assert link is not None
    for _ in range(2):
        recorded = await record_answer(
            pool,
            link_id=link.link_id,
            instrument=Instrument.PHQ9,
            answers=[2, 2, 2, 2, 2, 2, 2, 2, 1],
            now=clock.now,
            care_team_route=DEFAULT_CHANNEL,
        )
        assert recorded is not None and recorded.urgent and recorded.item9 == 1
    alerts = await pool.fetch(
        """SELECT message_id, channel, template, recipient_role, params FROM notification_outbox
           WHERE urgency = 'urgent'"""
    )
    assert [(a["channel"], a["template"], a["recipient_role"]) for a in alerts] == [
        (DEFAULT_CHANNEL, "safety_alert", "care_team")
    ]
    assert "phq9_item9_positive" in alerts[0]["params"]
    assert "6_month" in alerts[0]["params"]
    # No workflow runs after closure: the store keeps the alert's acknowledgement and opens
    # the call-back task, once, both chased by the store's ladder.
    tasks = await care_tasks.for_episode(pool, "ep1")
    assert sorted((t.kind.value, t.message_id) for t in tasks) == [
        ("acknowledgement", alerts[0]["message_id"]),
        ("callback", alerts[0]["message_id"]),
    ]


async def test_a_window_closing_unanswered_is_recorded_as_no_response(
    pool: asyncpg.Pool,
) -> None:
    await _closed_episode(pool, "ep1")
    await _closed_episode(pool, "ep2", sms=False)  # no consented channel: never sent
    await _closed_episode(pool, "ep3", messaging_consent=False)  # declined at the start
    clock = Clock(SIX_MONTHS)
    job = _job(pool, clock)
    assert (await job.run_once()).sent == 1  # ep1 only
    clock.now = SIX_MONTHS + timedelta(days=60)  # the window's last day: still open
    assert (await job.run_once()).closed_unanswered == 0
    clock.now = SIX_MONTHS + timedelta(days=61)
    assert (await job.run_once()).closed_unanswered == 3
    for episode_id, sent in (("ep1", True), ("ep2", False), ("ep3", False)):
        six, twelve = await followups_of(pool, episode_id)
        assert six.status is FollowupStatus.NO_RESPONSE and six.closed_at == clock.now
        assert (six.sent_at is not None) is sent
        assert twelve.status is FollowupStatus.SCHEDULED  # its window is still ahead


async def test_the_job_runs_supervised_until_stopped(pool: asyncpg.Pool) -> None:
    await _closed_episode(pool)
    stop = asyncio.Event()
    running = asyncio.create_task(
        run_followups(_job(pool, Clock(SIX_MONTHS)), stop=stop, interval_s=3600)
    )
    for _ in range(200):
        if (await followups_of(pool, "ep1"))[0].status is FollowupStatus.SENT:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert (await followups_of(pool, "ep1"))[0].status is FollowupStatus.SENT


async def test_the_starts_messaging_consent_is_kept_for_the_follow_ups(
    pool: asyncpg.Pool,
) -> None:
    for episode_id, consented in (("ep-yes", True), ("ep-no", False)):
        start = EpisodeStart(
            episode_id=episode_id,
            program_id="iop-adult",
            patient=PatientRef(patient_ref=f"MRN-{episode_id}", birth_date=date(1990, 2, 3)),
            contact=ContactPreferences(sms=True, phone=PHONE),
            consents=Consents(messaging=consented),
        )
        await PostgresPatients(pool).register_start(start, start.fingerprint())
    rows = await pool.fetch(
        "SELECT episode_id, messaging_consent FROM patient_contacts ORDER BY episode_id"
    )
    assert [(r["episode_id"], r["messaging_consent"]) for r in rows] == [
        ("ep-no", False),
        ("ep-yes", True),
    ]
