"""The care team's follow-through ladder, store-side: an acknowledgement or a call-back
task still open when its rung falls due (`rules.messaging.task_ladder`) queues an
urgent message to the supervisor, then to the supervisor and the care team again.

One pass claims the due rows with `FOR UPDATE SKIP LOCKED` (several workers may run it),
and in the same transaction queues the messages (stable IDs, so a repeat adds nothing),
moves the row to its next rung and records the step for the timeline. It runs beside the
outbox dispatcher (`store.outbox_runner`), supervised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from rules.messaging import ESCALATION_TEMPLATES, TaskKind, task_ladder
from store.channels.care_tasks import ENGINE_ACTOR, record_event
from store.outbox import DATABASE_OUTAGE
from store.postgres import DEFAULT_CHANNEL

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def escalate_due(pool: asyncpg.Pool, now: datetime, *, limit: int = 100) -> int:
    """One pass: every open task whose next rung is due; returns how many moved."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """
            SELECT task_id, kind, episode_id, program_id, workflow_id, seq, message_id,
                template, opened_at, first_minutes, repeat_minutes, escalations_done
            FROM care_team_tasks
            WHERE done_at IS NULL AND next_escalation_at <= $1
            ORDER BY next_escalation_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
            """,
            now,
            limit,
        )
        for row in rows:
            ladder = task_ladder(row["opened_at"], row["first_minutes"], row["repeat_minutes"])
            step = row["escalations_done"] + 1
            _, recipients = ladder[step - 1]
            kind = TaskKind(row["kind"])
            params = json.dumps(
                {
                    "task": kind.value,
                    "about": row["template"],
                    "message_id": row["message_id"] or "",
                    "step": str(step),
                    "opened_at": row["opened_at"].isoformat(),
                },
                sort_keys=True,
            )
            await conn.executemany(
                """
                INSERT INTO notification_outbox (message_id, episode_id, program_id,
                    workflow_id, seq, channel, template, recipient_role, urgency, params)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'urgent', $9::jsonb)
                ON CONFLICT (message_id) DO NOTHING
                """,
                [
                    (
                        f"{row['task_id']}:escalation{step}:{who.value}",
                        row["episode_id"],
                        row["program_id"],
                        row["workflow_id"],
                        row["seq"],
                        DEFAULT_CHANNEL,
                        ESCALATION_TEMPLATES[kind],
                        who.value,
                        params,
                    )
                    for who in recipients
                ],
            )
            following = ladder[step][0] if step < len(ladder) else None
            await conn.execute(
                """
                UPDATE care_team_tasks
                SET escalations_done = $2, next_escalation_at = $3
                WHERE task_id = $1
                """,
                row["task_id"],
                step,
                following,
            )
            await record_event(
                conn, row["task_id"], row["episode_id"], "escalated", ENGINE_ACTOR, now, step
            )
    if rows:
        log.info("care-team tasks escalated: %d", len(rows))
    return len(rows)


async def run_escalations(
    pool: asyncpg.Pool,
    stop: asyncio.Event,
    *,
    interval_s: float = 30.0,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """Escalate due tasks every `interval_s` until `stop`; a database outage is
    logged and waited out. Run it under `store.supervise.supervise`."""
    while not stop.is_set():
        try:
            while await escalate_due(pool, clock()) > 0:
                pass
        except DATABASE_OUTAGE as error:
            log.warning("task escalation pass failed: %s", type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
