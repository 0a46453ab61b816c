"""The 6-/12-month follow-ups on the episode's timeline (store.queries.timeline, which the
API and the workbench read): scheduled with the due day and window, sent, reminded,
answered with the score and item 9, a window closed as no response, and a follow-up not
sent with why."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from rules.messaging import TaskKind
from schemas.submissions import AlertResponse
from store.channels import care_tasks
from store.channels.contacts import DECLINED
from store.channels.escalation import escalate_due
from store.channels.links import Instrument, PostgresLinks
from store.followups import FOLLOWUP_ACTOR, NO_ANSWER, record_answer
from store.models import TimelineEntry
from store.postgres import DEFAULT_CHANNEL
from store.queries import timeline
from tests.channels.builders import Clock, sms_dispatcher
from tests.channels.sms_gateway import Gateway
from tests.channels.test_followup_job import SIX_MONTHS, _closed_episode, _job, _token


def _followups(
    entries: list[TimelineEntry],
) -> list[tuple[str | None, str | None, str, int | None, str | None]]:
    return [
        (e.event, e.reason, e.actor, e.phq9_total, e.value) for e in entries if e.kind == "followup"
    ]


async def test_each_follow_up_step_is_on_the_timeline(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _closed_episode(pool)
    clock = Clock(SIX_MONTHS)
    job = _job(pool, clock)
    dispatcher = sms_dispatcher(pool, url, clock, questionnaire_links=True)
    await job.run_once()
    await dispatcher.dispatch_due()
    clock.now = SIX_MONTHS + timedelta(days=2, minutes=1)
    await dispatcher.dispatch_due()  # the reminder
    await job.run_once()
    link = await PostgresLinks(pool).open_link(_token(fake.sent[0].body), clock.now)
    assert link is not None
    await record_answer(
        pool,
        link_id=link.link_id,
        instrument=Instrument.PHQ9,
        answers=[1, 1, 1, 1, 1, 1, 0, 0, 1],
        now=clock.now,
        care_team_route=DEFAULT_CHANNEL,
    )
    entries = await timeline(pool, "ep1")
    steps = _followups(entries)
    assert [s[0] for s in steps] == [
        "followup_scheduled",
        "followup_scheduled",
        "followup_sent",
        "followup_reminded",
        "followup_answered",
    ]
    assert {s[1] for s in steps[:2]} == {"6_month", "12_month"}
    assert steps[2:] == [
        ("followup_sent", "6_month", FOLLOWUP_ACTOR, None, None),
        ("followup_reminded", "6_month", FOLLOWUP_ACTOR, None, None),
        ("followup_answered", "6_month", "patient", 7, "item 9: 1"),
    ]
    six_scheduled = next(s for s in steps if s[1] == "6_month")
    assert "counts" in str(six_scheduled[4]) and "due" in str(six_scheduled[4])
    # The timeline stays in time order with the follow-ups among the rest.
    assert [e.at for e in entries] == sorted(e.at for e in entries)


async def test_a_follow_up_not_sent_and_then_unanswered_says_why(pool: asyncpg.Pool) -> None:
    await _closed_episode(pool, "ep1", messaging_consent=False)
    await _closed_episode(pool, "ep2")
    clock = Clock(SIX_MONTHS)
    job = _job(pool, clock)
    await job.run_once()
    steps = _followups(await timeline(pool, "ep1"))
    assert ("followup_not_sent", "6_month", FOLLOWUP_ACTOR, None, DECLINED) in steps
    clock.now = SIX_MONTHS + timedelta(days=61)
    await job.run_once()
    declined = _followups(await timeline(pool, "ep1"))
    assert ("followup_no_response", "6_month", FOLLOWUP_ACTOR, None, DECLINED) in declined
    assert not any(s[0] == "followup_not_sent" for s in declined)  # now said by the close
    unanswered = _followups(await timeline(pool, "ep2"))
    assert ("followup_no_response", "6_month", FOLLOWUP_ACTOR, None, NO_ANSWER) in unanswered


async def test_a_follow_ups_item_9_alert_climbs_the_stores_ladder_until_acknowledged(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    """No workflow runs after closure: the alert's acknowledgement and the call-back task
    are the store's, and its ladder chases them (supervisor after the policy's 60 minutes)
    until a care-team member records them done; every step on the timeline."""
    fake, url = gateway
    await _closed_episode(pool)
    clock = Clock(SIX_MONTHS)
    await _job(pool, clock).run_once()
    await sms_dispatcher(pool, url, clock, questionnaire_links=True).dispatch_due()
    link = await PostgresLinks(pool).open_link(_token(fake.sent[0].body), clock.now)
    assert link is not None
    answered = clock.now
    await record_answer(
        pool,
        link_id=link.link_id,
        instrument=Instrument.PHQ9,
        answers=[0, 0, 0, 0, 0, 0, 0, 0, 2],
        now=answered,
        care_team_route=DEFAULT_CHANNEL,
    )
    assert await escalate_due(pool, answered + timedelta(minutes=59)) == 0
    assert await escalate_due(pool, answered + timedelta(minutes=60)) == 2  # ack and call-back
    chased = await pool.fetch(
        "SELECT template, recipient_role FROM notification_outbox "
        "WHERE message_id LIKE '%:escalation1:%' ORDER BY template"
    )
    assert [(r["template"], r["recipient_role"]) for r in chased] == [
        ("callback_overdue", "supervisor"),
        ("urgent_message_unacknowledged", "supervisor"),
    ]
    ack = next(
        t for t in await care_tasks.for_episode(pool, "ep1") if t.kind is TaskKind.ACKNOWLEDGEMENT
    )
    await care_tasks.complete(
        pool,
        ack.task_id,
        by="clin-7",
        at=answered + timedelta(minutes=70),
        ack_response=AlertResponse.REACHED_PATIENT,
    )
    assert await escalate_due(pool, answered + timedelta(minutes=120)) == 1  # the call-back only
    events = [e.event for e in await timeline(pool, "ep1") if e.kind == "messaging"]
    assert "urgent_message_unacknowledged" in events
    assert "urgent_message_acknowledged" in events
    assert "callback_task_overdue" in events
