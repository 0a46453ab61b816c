"""Issue 12: what the care team owes after an urgent message, on real PostgreSQL.

A patient-reported PHQ-9 item 9 above zero opens a call-back task in the transaction that
queues the alert; every other urgent care-team message (a closure with the risk flag open,
a moderate C-SSRS once the flag's own alert was acknowledged) needs an acknowledgement.
Both are done with who / when / what, and both escalate while open: the supervisor after
the policy's minutes, then the supervisor and the care team again; every step is on the
timeline.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from rules.messaging import (
    URGENT_KINDS,
    AckBy,
    CallbackOutcome,
    MessagingPolicy,
    TaskKind,
    urgent_kind,
)
from schemas.episode import ContactPreferences
from schemas.records import EffectBatch, NotificationRequest, Recipient, Urgency
from schemas.submissions import AlertResponse
from store.channels import care_tasks
from store.channels.care_tasks import TaskDone
from store.channels.contacts import PostgresContacts
from store.channels.escalation import escalate_due
from store.outbox import LogChannel
from store.outbox_runner import run_dispatcher
from store.postgres import PostgresRecordStore
from store.queries import timeline
from store.retention import RetentionPolicy, purge
from tests.store.store_builders import T0, batch, note, review, snapshot


def _alert(message_id: str, template: str = "safety_alert", **changes: Any) -> NotificationRequest:
    return note(message_id, template=template, urgency=Urgency.URGENT, params={}, **changes)


def _patient_item9(seq: int, item9: int, *, risk_unacknowledged: bool = True) -> EffectBatch:
    """The batch the engine writes for the patient's own answers with item 9 = `item9`."""
    answers = review(f"link-{seq}", T0, 9, kind="patient_measure", phq9_item9=item9)
    notes = [_alert(f"care-episode-ep1:m{seq}")] if item9 > 0 else []
    episode = snapshot(risk_flag=item9 > 0, risk_unacknowledged=risk_unacknowledged)
    return batch(seq, episode, reviews=[answers], notifications=notes)


async def _outbox(pool: asyncpg.Pool, like: str) -> list[tuple[str, str, str, dict[str, str]]]:
    rows = await pool.fetch(
        "SELECT template, recipient_role, urgency, params FROM notification_outbox"
        " WHERE message_id LIKE $1 ORDER BY message_id",
        like,
    )
    return [
        (r["template"], r["recipient_role"], r["urgency"], json.loads(r["params"])) for r in rows
    ]


def test_every_escalation_template_is_a_reminder_not_another_thing_to_acknowledge() -> None:
    assert urgent_kind("urgent_message_unacknowledged").ack is AckBy.NONE
    assert urgent_kind("callback_overdue").ack is AckBy.NONE
    assert urgent_kind("risk_alert_unacknowledged").ack is AckBy.NONE
    assert urgent_kind("some_new_urgent_message").ack is AckBy.STORE  # unknown: acknowledged
    assert all(kind.label for kind in URGENT_KINDS.values())


async def test_a_patients_item9_opens_a_callback_task_with_the_alert(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    await store.apply(_patient_item9(1, 2))
    await store.apply(_patient_item9(1, 2))  # the activity retried: nothing twice

    [task] = await care_tasks.for_episode(pool, "ep1")
    assert (task.task_id, task.kind, task.message_id) == (
        "callback:ep1:link-1",
        TaskKind.CALLBACK,
        "care-episode-ep1:m1",
    )
    assert task.opened_at == T0 and task.due_at == T0 + timedelta(minutes=60)
    assert task.open and task.escalations_done == 0
    # The alert itself is the engine's to acknowledge while it waits: no second one here.
    assert await care_tasks.for_episode(pool, "ep1", TaskKind.ACKNOWLEDGEMENT) == []


async def test_no_task_for_a_zero_item9_or_a_clinicians_score(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    await store.apply(_patient_item9(1, 0))
    clinician = review("rev-1", T0, 12, kind="review", phq9_item9=1)
    await store.apply(batch(2, snapshot(), reviews=[clinician]))
    assert await care_tasks.for_episode(pool, "ep1") == []


async def test_the_callback_is_due_within_the_programs_minutes(pool: asyncpg.Pool) -> None:
    policy = MessagingPolicy(callback_minutes=15, callback_repeat_minutes=30)
    await PostgresContacts(pool).save_new("ep1", ContactPreferences(), policy)
    await PostgresRecordStore(pool).apply(_patient_item9(1, 1))
    [task] = await care_tasks.for_episode(pool, "ep1")
    assert task.due_at == T0 + timedelta(minutes=15)

    assert await escalate_due(pool, T0 + timedelta(minutes=15)) == 1
    [after] = await care_tasks.for_episode(pool, "ep1")
    assert after.next_escalation_at == T0 + timedelta(minutes=45)


@pytest.mark.parametrize(
    ("message", "risk_unacknowledged", "acknowledged_here"),
    [
        (_alert("m-closed", "episode_closed"), False, True),
        (_alert("m-withdrawn", "withdrawn_with_risk_open"), False, True),
        (_alert("m-new", "a_template_nobody_listed"), False, True),
        # a moderate C-SSRS (or a second item 9) once the flag's own alert was acknowledged
        (_alert("m-cssrs"), False, True),
        (_alert("m-alert"), True, False),  # the engine's acknowledge_alert keeps this one
        (_alert("m-reminder", "risk_alert_unacknowledged"), False, False),
        (note("m-routine", template="episode_closed"), False, False),
        (_alert("m-supervisor", "episode_closed", recipient=Recipient.SUPERVISOR), False, False),
    ],
)
async def test_which_urgent_messages_need_an_acknowledgement_here(
    pool: asyncpg.Pool,
    message: NotificationRequest,
    risk_unacknowledged: bool,
    acknowledged_here: bool,
) -> None:
    episode = snapshot(risk_flag=True, risk_unacknowledged=risk_unacknowledged)
    await PostgresRecordStore(pool).apply(batch(1, episode, notifications=[message]))
    found = await care_tasks.for_episode(pool, "ep1", TaskKind.ACKNOWLEDGEMENT)
    assert [f.message_id for f in found] == ([message.message_id] if acknowledged_here else [])


async def test_an_unacknowledged_message_climbs_the_ladder_then_stops(
    pool: asyncpg.Pool,
) -> None:
    closed = _alert("care-episode-ep1:m1", "episode_closed")
    await PostgresRecordStore(pool).apply(
        batch(1, snapshot(risk_flag=True), notifications=[closed])
    )

    assert await escalate_due(pool, T0 + timedelta(minutes=59)) == 0
    assert await escalate_due(pool, T0 + timedelta(minutes=60)) == 1
    assert await escalate_due(pool, T0 + timedelta(minutes=61)) == 0  # once per rung
    first = await _outbox(pool, "ack:%")
    assert [(t, who, u) for t, who, u, _ in first] == [
        ("urgent_message_unacknowledged", "supervisor", "urgent")
    ]
    params = first[0][3]
    assert (params["about"], params["message_id"], params["step"]) == (
        "episode_closed",
        closed.message_id,
        "1",
    )

    assert await escalate_due(pool, T0 + timedelta(minutes=120)) == 1
    assert [who for _, who, _, _ in await _outbox(pool, "ack:%escalation2%")] == [
        "care_team",
        "supervisor",
    ]
    assert await escalate_due(pool, T0 + timedelta(days=2)) == 0  # the ladder has two rungs
    [row] = await care_tasks.for_episode(pool, "ep1")
    assert (row.escalations_done, row.next_escalation_at, row.open) == (2, None, True)

    done = await care_tasks.complete(
        pool,
        row.task_id,
        by="clin-7",
        at=T0 + timedelta(hours=3),
        ack_response=AlertResponse.REACHED_PATIENT,
    )
    assert done is not None and (done.done_by, done.ack_response) == (
        "clin-7",
        AlertResponse.REACHED_PATIENT,
    )
    steps = [
        (e.event, e.actor, e.value)
        for e in await timeline(pool, "ep1")
        if e.kind == "messaging" and e.review_id == row.task_id
    ]
    assert steps == [
        ("urgent_message_awaiting_acknowledgement", "engine", None),
        ("urgent_message_unacknowledged", "engine", "step 1"),
        ("urgent_message_unacknowledged", "engine", "step 2"),
        ("urgent_message_acknowledged", "clin-7", "reached_patient"),
    ]


async def test_a_completed_callback_stops_its_ladder_and_cannot_be_done_twice(
    pool: asyncpg.Pool,
) -> None:
    await PostgresRecordStore(pool).apply(_patient_item9(1, 3))
    at = T0 + timedelta(minutes=20)
    done = await care_tasks.complete(
        pool,
        "callback:ep1:link-1",
        by="clin-7",
        at=at,
        callback_outcome=CallbackOutcome.LEFT_MESSAGE,
    )
    assert done is not None and (done.done_at, done.callback_outcome) == (
        at,
        CallbackOutcome.LEFT_MESSAGE,
    )
    assert await escalate_due(pool, T0 + timedelta(hours=5)) == 0
    assert await _outbox(pool, "callback:%") == []

    with pytest.raises(TaskDone) as again:
        await care_tasks.complete(
            pool,
            "callback:ep1:link-1",
            by="clin-8",
            at=at,
            callback_outcome=CallbackOutcome.REACHED,
        )
    assert again.value.task.done_by == "clin-7"  # unchanged
    assert (
        await care_tasks.complete(
            pool, "callback:nope", by="clin-7", at=at, callback_outcome=CallbackOutcome.REACHED
        )
        is None
    )
    entries = [(e.event, e.actor, e.value) for e in await timeline(pool, "ep1")]
    assert ("callback_task_opened", "patient", None) in entries
    assert ("callback_task_completed", "clin-7", "left_message") in entries


async def test_an_overdue_callback_goes_to_the_supervisor(pool: asyncpg.Pool) -> None:
    await PostgresRecordStore(pool).apply(_patient_item9(1, 1))
    assert await escalate_due(pool, T0 + timedelta(hours=1)) == 1
    [(template, who, urgency, params)] = await _outbox(pool, "callback:%")
    assert (template, who, urgency, params["task"]) == (
        "callback_overdue",
        "supervisor",
        "urgent",
        "callback",
    )
    # No clinical detail and no patient data in what goes out: which task, which step.
    assert set(params) == {"about", "task", "message_id", "opened_at", "step"}


async def test_the_worker_runs_the_ladder_beside_the_dispatcher(pool: asyncpg.Pool) -> None:
    """`run_dispatcher(escalate_every_s=...)`, as the worker starts it: an overdue task's
    escalations are queued and delivered without anyone calling `escalate_due`."""
    await PostgresRecordStore(pool).apply(_patient_item9(1, 1))  # opened in 2025: overdue
    stop = asyncio.Event()
    running = asyncio.create_task(
        run_dispatcher(pool, LogChannel(), stop=stop, poll_interval=0.05, escalate_every_s=0.05)
    )
    try:
        for _ in range(200):
            sent = await pool.fetchval(
                "SELECT count(*) FROM notification_outbox"
                " WHERE template = 'callback_overdue' AND status = 'sent'"
            )
            if sent == 3:  # the supervisor, then the supervisor and the care team
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    assert sent == 3
    [task] = await care_tasks.for_episode(pool, "ep1")
    assert (task.escalations_done, task.next_escalation_at) == (2, None)


async def test_retention_deletes_an_old_alert_and_its_task_stays(pool: asyncpg.Pool) -> None:
    """The outbox's sent rows go after their retention window; the task that followed one
    keeps its message ID and its timeline, and does not block the purge."""
    await PostgresRecordStore(pool).apply(_patient_item9(1, 1))
    await pool.execute(
        "UPDATE notification_outbox SET status = 'sent', sent_at = $1", T0 + timedelta(minutes=1)
    )
    purged = await purge(pool, RetentionPolicy(), now=T0 + timedelta(days=365))
    assert purged["notification_outbox"] == 1
    [task] = await care_tasks.for_episode(pool, "ep1")
    assert task.message_id == "care-episode-ep1:m1"
    assert [e.event for e in await timeline(pool, "ep1") if e.kind == "messaging"] == [
        "callback_task_opened"
    ]
