"""What the care team owes after an urgent message, in PostgreSQL (`care_team_tasks`,
migration 0320): an acknowledgement of each urgent care-team message (`URGENT_KINDS` says
which, and which the engine keeps itself), and the call-back task a patient-reported PHQ-9
item 9 above zero opens beside the alert.

Opened by `open_for_batch` in the store's transaction for the batch that queues the
message (so a task exists if and only if its message does); done with who, when and
the outcome; chased while open by `store.channels.escalation`. Each step is a row in
`care_team_task_events`, which the episode's timeline shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from rules.messaging import (
    AckBy,
    CallbackOutcome,
    MessagingPolicy,
    TaskKind,
    task_ladder,
    task_minutes,
    urgent_kind,
)
from schemas.records import EffectBatch, NotificationRequest, Recipient, Urgency
from schemas.submissions import PATIENT_ACTOR, AlertResponse
from store.dbtypes import Conn, Db
from store.models import TimelineEntry

# The engine's actor name on steps nobody took by hand (as in the transitions table).
ENGINE_ACTOR = "engine"
PATIENT_MEASURE = "patient_measure"
SAFETY_ALERT = "safety_alert"


class CareTeamTask(BaseModel):
    """One acknowledgement or call-back task as the API and the workbench show it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    task_id: str
    kind: TaskKind
    episode_id: str
    program_id: str
    message_id: str | None = Field(description="the urgent message it follows")
    template: str
    label: str = Field(description="what the message was about, in words")
    opened_at: datetime
    due_at: datetime = Field(description="when the ladder first escalates if not done")
    escalations_done: int
    next_escalation_at: datetime | None
    done_at: datetime | None
    done_by: str | None
    callback_outcome: CallbackOutcome | None
    ack_response: AlertResponse | None

    @property
    def open(self) -> bool:
        return self.done_at is None

    def done_so(
        self,
        by: str,
        callback_outcome: CallbackOutcome | None = None,
        ack_response: AlertResponse | None = None,
    ) -> bool:
        """Done already by `by` with this very answer: a repeat of that completion (a
        retry, a double click, a reload) that the API and the workbench answer as the
        first time, not as a conflict. Anyone else, or another answer, is a conflict."""
        return not self.open and (self.done_by, self.callback_outcome, self.ack_response) == (
            by,
            callback_outcome,
            ack_response,
        )


class TaskDone(Exception):
    """Done already: `task` is the row as it stands."""

    def __init__(self, task: CareTeamTask) -> None:
        super().__init__(task.task_id)
        self.task = task


async def episode_policy(db: Db, episode_id: str) -> MessagingPolicy:
    """The program's messaging policy as stored with the episode's contact details."""
    raw = await db.fetchval(
        "SELECT messaging FROM patient_contacts WHERE episode_id = $1", episode_id
    )
    return MessagingPolicy.model_validate(json.loads(raw)) if raw else MessagingPolicy()


def needs_store_acknowledgement(note: NotificationRequest, batch: EffectBatch) -> bool:
    """An urgent care-team message the store keeps the acknowledgement of: not a reminder,
    and not the risk alert while the engine waits for its own acknowledgement."""
    if note.recipient is not Recipient.CARE_TEAM or note.urgency is not Urgency.URGENT:
        return False
    ack = urgent_kind(note.template).ack
    if ack is AckBy.ENGINE:
        return not batch.episode.risk_unacknowledged
    return ack is AckBy.STORE


def callback_reviews(batch: EffectBatch) -> list[str]:
    """The review IDs of the patient's own answers with PHQ-9 item 9 above zero."""
    return [
        r.review_id for r in batch.reviews if r.kind == PATIENT_MEASURE and (r.phq9_item9 or 0) > 0
    ]


@dataclass(frozen=True)
class Opening:
    """One task to open: which, about which message, for which episode and outbox batch."""

    task_id: str
    kind: TaskKind
    message_id: str | None
    template: str
    actor: str  # who made it necessary: the engine, or the patient (their own answers)


async def open_for_batch(conn: Conn, batch: EffectBatch) -> int:
    """Open the batch's tasks (the store's transaction, beside its outbox rows);
    returns how many. A batch is written once, and the IDs are stable, so never twice."""
    acks = [n for n in batch.notifications if needs_store_acknowledgement(n, batch)]
    callbacks = callback_reviews(batch)
    if not acks and not callbacks:
        return 0
    alert = next(
        (
            n
            for n in batch.notifications
            if n.template == SAFETY_ALERT and n.recipient is Recipient.CARE_TEAM
        ),
        None,
    )
    episode = batch.episode
    openings = [
        Opening(
            f"ack:{n.message_id}", TaskKind.ACKNOWLEDGEMENT, n.message_id, n.template, ENGINE_ACTOR
        )
        for n in acks
    ] + [
        Opening(
            f"callback:{episode.episode_id}:{review_id}",
            TaskKind.CALLBACK,
            alert.message_id if alert else None,
            SAFETY_ALERT,
            PATIENT_ACTOR,
        )
        for review_id in callbacks
    ]
    return await open_tasks(
        conn,
        openings,
        episode_id=episode.episode_id,
        program_id=episode.program_id,
        workflow_id=batch.workflow_id,
        seq=batch.seq,
        at=episode.updated_at,
    )


async def open_tasks(
    conn: Conn,
    openings: list[Opening],
    *,
    episode_id: str,
    program_id: str,
    workflow_id: str,
    seq: int,
    at: datetime,
) -> int:
    """Open tasks in the caller's transaction (the one that queues their message), each
    due by the episode's policy; one already open under its ID is left as it is. For a
    store-side alert outside the engine's batches too (e.g. a follow-up after closure)."""
    if not openings:
        return 0
    policy = await episode_policy(conn, episode_id)
    opened = 0
    for o in openings:
        first, repeat = task_minutes(policy, o.kind)
        due = task_ladder(at, first, repeat)[0][0]
        inserted = await conn.fetchval(
            """
            INSERT INTO care_team_tasks (task_id, kind, episode_id, program_id,
                workflow_id, seq, message_id, template, opened_at, first_minutes,
                repeat_minutes, next_escalation_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (task_id) DO NOTHING RETURNING true
            """,
            o.task_id,
            o.kind.value,
            episode_id,
            program_id,
            workflow_id,
            seq,
            o.message_id,
            o.template,
            at,
            first,
            repeat,
            due,
        )
        if inserted:
            await record_event(conn, o.task_id, episode_id, "opened", o.actor, at)
            opened += 1
    return opened


async def record_event(
    conn: Conn,
    task_id: str,
    episode_id: str,
    event: str,
    actor: str,
    at: datetime,
    step: int | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO care_team_task_events (task_id, episode_id, event, step, actor, at)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        task_id,
        episode_id,
        event,
        step,
        actor,
        at,
    )


TASK_COLUMNS = """task_id, kind, episode_id, program_id, message_id, template, opened_at,
    opened_at + make_interval(secs => first_minutes * 60) AS due_at, escalations_done,
    next_escalation_at, done_at, done_by, callback_outcome, ack_response"""


def task_from_row(row: object) -> CareTeamTask:
    values = dict(row)  # type: ignore[call-overload]
    values["label"] = urgent_kind(values["template"]).label
    if values["kind"] == TaskKind.CALLBACK:
        values["label"] = "Call the patient back (PHQ-9 item 9 above zero, patient-reported)"
    return CareTeamTask.model_validate(values)


async def for_episode(db: Db, episode_id: str, kind: TaskKind | None = None) -> list[CareTeamTask]:
    """The episode's tasks, open ones first, oldest first."""
    rows = await db.fetch(
        f"""
        SELECT {TASK_COLUMNS} FROM care_team_tasks
        WHERE episode_id = $1 AND ($2::text IS NULL OR kind = $2)
        ORDER BY done_at IS NOT NULL, opened_at, task_id
        """,
        episode_id,
        kind.value if kind else None,
    )
    return [task_from_row(r) for r in rows]


async def get(db: Db, task_id: str) -> CareTeamTask | None:
    row = await db.fetchrow(
        f"SELECT {TASK_COLUMNS} FROM care_team_tasks WHERE task_id = $1", task_id
    )
    return task_from_row(row) if row is not None else None


async def complete(
    pool: asyncpg.Pool,
    task_id: str,
    *,
    by: str,
    at: datetime,
    callback_outcome: CallbackOutcome | None = None,
    ack_response: AlertResponse | None = None,
) -> CareTeamTask | None:
    """Mark an open task done (its ladder stops) and record the step; None when there
    is no such task, `TaskDone` when it was done already (nothing changes)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """
            UPDATE care_team_tasks SET done_at = $2, done_by = $3,
                callback_outcome = $4, ack_response = $5, next_escalation_at = NULL
            WHERE task_id = $1 AND done_at IS NULL
            RETURNING episode_id
            """,
            task_id,
            at,
            by,
            callback_outcome.value if callback_outcome else None,
            ack_response.value if ack_response else None,
        )
        if row is not None:
            await record_event(conn, task_id, row["episode_id"], "done", by, at)
        current = await get(conn, task_id)
    if current is None:
        return None
    if row is None:
        raise TaskDone(current)
    return current


_EVENT_NAMES = {
    (TaskKind.CALLBACK, "opened"): "callback_task_opened",
    (TaskKind.CALLBACK, "escalated"): "callback_task_overdue",
    (TaskKind.CALLBACK, "done"): "callback_task_completed",
    (TaskKind.ACKNOWLEDGEMENT, "opened"): "urgent_message_awaiting_acknowledgement",
    (TaskKind.ACKNOWLEDGEMENT, "escalated"): "urgent_message_unacknowledged",
    (TaskKind.ACKNOWLEDGEMENT, "done"): "urgent_message_acknowledged",
}


async def timeline_entries(db: Db, episode_id: str) -> list[TimelineEntry]:
    """Each task's steps for the episode's timeline: opened, every escalation (its
    step), and done (who, and the outcome or what was done)."""
    rows = await db.fetch(
        """
        SELECT e.event, e.step, e.actor, e.at, f.kind, f.template, f.task_id,
            coalesce(f.callback_outcome, f.ack_response) AS outcome
        FROM care_team_task_events e
        JOIN care_team_tasks f ON f.task_id = e.task_id
        WHERE e.episode_id = $1
        ORDER BY e.at, e.id
        """,
        episode_id,
    )
    return [
        TimelineEntry(
            kind="messaging",
            at=r["at"],
            actor=r["actor"],
            event=_EVENT_NAMES[(TaskKind(r["kind"]), r["event"])],
            reason=r["template"],
            review_id=r["task_id"],
            value=(r["outcome"] if r["event"] == "done" else None)
            or (f"step {r['step']}" if r["step"] else None),
        )
        for r in rows
    ]


async def open_for_patient_alert(
    conn: Conn,
    *,
    alert_message_id: str,
    answers_id: str,
    episode_id: str,
    program_id: str,
    workflow_id: str,
    seq: int,
    at: datetime,
) -> int:
    """A patient's item 9 > 0 alerted by the store itself (a follow-up after closure, with
    no workflow to keep the alert's acknowledgement): the acknowledgement and the call-back
    task, in the caller's transaction that queues the alert."""
    openings = [
        Opening(
            f"ack:{alert_message_id}",
            TaskKind.ACKNOWLEDGEMENT,
            alert_message_id,
            SAFETY_ALERT,
            ENGINE_ACTOR,
        ),
        Opening(
            f"callback:{episode_id}:{answers_id}",
            TaskKind.CALLBACK,
            alert_message_id,
            SAFETY_ALERT,
            PATIENT_ACTOR,
        ),
    ]
    return await open_tasks(
        conn,
        openings,
        episode_id=episode_id,
        program_id=program_id,
        workflow_id=workflow_id,
        seq=seq,
        at=at,
    )


async def open_tasks_page(
    db: Db, *, programs: list[str] | None, limit: int
) -> tuple[list[CareTeamTask], int]:
    """Open tasks across episodes (the care team's Today list): the first `limit`, soonest
    due first, and how many there are; `programs` None for every program."""
    rows = await db.fetch(
        f"""
        SELECT {TASK_COLUMNS}, count(*) OVER () AS total FROM care_team_tasks
        WHERE done_at IS NULL AND ($1::text[] IS NULL OR program_id = ANY($1))
        ORDER BY opened_at + make_interval(secs => first_minutes * 60), task_id
        LIMIT $2
        """,
        programs,
        limit,
    )
    total = rows[0]["total"] if rows else 0
    tasks = [task_from_row({k: v for k, v in dict(r).items() if k != "total"}) for r in rows]
    return tasks, total
