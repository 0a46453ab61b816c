"""`RecordStore` on PostgreSQL: one transaction per `EffectBatch`, written exactly once.

The batch's (workflow_id, seq) is claimed in `applied_batches` first; a retried activity
finds its claim and writes nothing. Notifications go into the outbox in the same
transaction (transactional outbox), so a message exists if and only if its batch does.

A batch PostgreSQL refuses for its content (`is_permanent`: a NUL in a string, a value a
CHECK forbids) would fail the same way on every retry, and the episode's later batches
would queue behind it for ever. Such a batch is parked instead: stored whole in
`parked_batches` (as ASCII-only JSON, so any content fits), its (workflow_id, seq) claimed,
its notifications still queued where they can be, an error logged and counted on /readyz.
The activity then succeeds and the episode's next batches are written. A connection error,
a timeout or a server restarting is transient: it is raised, and the activity retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Final

import asyncpg

from schemas.records import (
    AuthorizationRecord,
    EffectBatch,
    EpisodeSnapshot,
    NotificationRequest,
    ReviewRecord,
    TransitionRecord,
)
from store import review_packets
from store.channels import care_tasks
from store.dbtypes import Conn
from store.followups import FollowupPolicy, schedule_at_closure
from store.quality_clocks import upsert_clocks

DEFAULT_CHANNEL = "default"

log = logging.getLogger(__name__)

# SQLSTATE classes that name the data, not the server: 22 data exception (e.g. 22021
# "invalid byte sequence for encoding UTF8: 0x00", 22P05 untranslatable character),
# 23 integrity constraint violation. Retrying the same batch cannot help.
PERMANENT_SQLSTATE_CLASSES = ("22", "23")


def is_permanent(error: BaseException) -> bool:
    """True if writing the same batch again would fail the same way.

    Text Python cannot encode for PostgreSQL (a lone surrogate) fails in the driver with
    a UnicodeError; everything else not named here (connection loss, shutdown, timeouts,
    lock conflicts, a missing table during a deploy) is transient and retried.
    """
    if isinstance(error, UnicodeError):
        return True
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = str(getattr(error, "sqlstate", "") or "")
        return sqlstate[:2] in PERMANENT_SQLSTATE_CLASSES
    return False


def escaped_json(batch: EffectBatch) -> str:
    """The batch as JSON text with every non-ASCII character escaped (\\u0000 included),
    storable in a text column whatever it holds; `json.loads` returns the exact content."""
    return json.dumps(batch.model_dump(mode="json"), ensure_ascii=True, sort_keys=True)


def default_channel(_notification: NotificationRequest) -> str:
    """Every message goes to the dispatcher's default route unless a router says otherwise."""
    return DEFAULT_CHANNEL


class PostgresRecordStore:
    """Writes care records; safe to call again with the same batch after any failure."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        channel_for: Callable[[NotificationRequest], str] = default_channel,
        followups: FollowupPolicy | None = None,
    ) -> None:
        self._pool = pool
        self._channel_for = channel_for
        self._followups = followups  # its numbers and the programs' zones

    async def apply(self, batch: EffectBatch) -> None:
        """Write the batch and queue its notifications in the outbox, once (or park it, see
        the module doc)."""
        try:
            await self._write(batch)
        except Exception as error:
            if not is_permanent(error):
                raise
            await self._park(batch, error)

    async def _write(self, batch: EffectBatch) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetchval(
                """
                INSERT INTO applied_batches (workflow_id, seq, run_id) VALUES ($1, $2, $3)
                ON CONFLICT DO NOTHING RETURNING true
                """,
                batch.workflow_id,
                batch.seq,
                batch.run_id,
            )
            if not claimed:
                return
            await _upsert_episode(conn, batch.workflow_id, batch.seq, batch.episode)
            await _insert_transitions(conn, batch, batch.transitions)
            await _insert_reviews(conn, batch, batch.reviews)
            await _upsert_authorizations(conn, batch.episode.episode_id, batch.authorizations)
            await schedule_at_closure(conn, batch, self._followups)  # 6-/12-month follow-ups
            if review_packets.requests_concurrent_review(batch):
                await review_packets.assemble_for_batch(conn, batch)
            await upsert_clocks(
                conn,
                workflow_id=batch.workflow_id,
                seq=batch.seq,
                episode_id=batch.episode.episode_id,
                program_id=batch.episode.program_id,
                clocks=batch.quality_clocks,
            )
            await self._enqueue(conn, batch, batch.notifications)
            await care_tasks.open_for_batch(conn, batch)

    async def _park(self, batch: EffectBatch, error: BaseException) -> None:
        """Keep the refused batch whole, claim its seq, and still queue its messages (a risk
        alert must not wait on a bad comment) unless they are what PostgreSQL refused."""
        sqlstate = getattr(error, "sqlstate", None)
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetchval(
                """
                INSERT INTO applied_batches (workflow_id, seq, run_id) VALUES ($1, $2, $3)
                ON CONFLICT DO NOTHING RETURNING true
                """,
                batch.workflow_id,
                batch.seq,
                batch.run_id,
            )
            if not claimed:
                return
            await conn.execute(
                """
                INSERT INTO parked_batches (workflow_id, seq, run_id, episode_id, sqlstate,
                    error_class, batch_json)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                """,
                batch.workflow_id,
                batch.seq,
                batch.run_id,
                batch.episode.episode_id,
                sqlstate,
                type(error).__name__,
                escaped_json(batch),
            )
            queued = True
            try:
                async with conn.transaction():  # a savepoint: the park stands either way
                    await self._enqueue(conn, batch, batch.notifications)
                    await care_tasks.open_for_batch(conn, batch)
            except Exception as refused:
                if not is_permanent(refused):
                    raise
                queued = False
        # No message text: some data errors quote the refused value.
        log.error(
            "record batch parked: workflow_id=%s seq=%d sqlstate=%s error=%s "
            "notifications_queued=%s",
            batch.workflow_id,
            batch.seq,
            sqlstate,
            type(error).__name__,
            queued,
        )

    async def _enqueue(
        self, conn: Conn, batch: EffectBatch, notes: list[NotificationRequest]
    ) -> None:
        if not notes:
            return
        await conn.executemany(
            """
            INSERT INTO notification_outbox (message_id, episode_id, program_id, workflow_id,
                seq, channel, template, recipient_role, urgency, params, next_attempt_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, coalesce($11, now()))
            ON CONFLICT (message_id) DO NOTHING
            """,
            [
                (
                    n.message_id,
                    n.episode_id,
                    n.program_id,
                    batch.workflow_id,
                    batch.seq,
                    self._channel_for(n),
                    n.template,
                    n.recipient.value,
                    n.urgency.value,
                    json.dumps(n.params, sort_keys=True),
                    n.not_before,
                )
                for n in notes
            ],
        )


async def _upsert_episode(conn: Conn, workflow_id: str, seq: int, ep: EpisodeSnapshot) -> None:
    # A batch applied late (after a newer one) must not roll the row back: compare versions.
    await conn.execute(
        """
        INSERT INTO episodes AS e (episode_id, workflow_id, program_id, phase, outcome,
            level_authorized, level_delivered, started_at, closed_at, next_review_due,
            risk_flag, baseline_phq9, latest_phq9, updated_at, last_seq, risk_unacknowledged)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
        ON CONFLICT (episode_id) DO UPDATE SET
            workflow_id = EXCLUDED.workflow_id,
            program_id = EXCLUDED.program_id,
            phase = EXCLUDED.phase,
            outcome = EXCLUDED.outcome,
            level_authorized = EXCLUDED.level_authorized,
            level_delivered = EXCLUDED.level_delivered,
            started_at = EXCLUDED.started_at,
            closed_at = EXCLUDED.closed_at,
            next_review_due = EXCLUDED.next_review_due,
            risk_flag = EXCLUDED.risk_flag,
            risk_unacknowledged = EXCLUDED.risk_unacknowledged,
            baseline_phq9 = EXCLUDED.baseline_phq9,
            latest_phq9 = EXCLUDED.latest_phq9,
            updated_at = EXCLUDED.updated_at,
            last_seq = EXCLUDED.last_seq
        WHERE (e.updated_at, e.last_seq) <= (EXCLUDED.updated_at, EXCLUDED.last_seq)
        """,
        ep.episode_id,
        workflow_id,
        ep.program_id,
        ep.phase.value,
        ep.outcome,
        _opt(ep.authorized_level),
        _opt(ep.delivered_level),
        ep.started_at,
        ep.closed_at,
        ep.next_review_due,
        ep.risk_flag,
        ep.baseline_phq9,
        ep.latest_phq9,
        ep.updated_at,
        seq,
        ep.risk_unacknowledged,
    )


# The transitions table's columns in the order `apply` writes a row, and the order the bulk
# loaders (bench/store_bench.py, tests/reports/report_seed.py) COPY theirs in.
TRANSITION_COLUMNS: Final = (
    "episode_id",
    "workflow_id",
    "seq",
    "ordinal",
    "run_id",
    "from_phase",
    "to_phase",
    "event",
    "reason",
    "actor",
    "at",
    "level_delivered",
    "level_authorized",
)
_INSERT_TRANSITION: Final = (
    f"INSERT INTO transitions ({', '.join(TRANSITION_COLUMNS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(TRANSITION_COLUMNS) + 1))})"
)


async def _insert_transitions(conn: Conn, batch: EffectBatch, rows: list[TransitionRecord]) -> None:
    if not rows:
        return
    await conn.executemany(
        _INSERT_TRANSITION,
        [
            (
                batch.episode.episode_id,
                batch.workflow_id,
                batch.seq,
                i,
                batch.run_id,
                t.from_phase.value,
                t.to_phase.value,
                t.event,
                t.reason,
                t.actor,
                t.at,
                _opt(t.delivered_level),
                _opt(t.authorized_level),
            )
            for i, t in enumerate(rows)
        ],
    )


async def _insert_reviews(conn: Conn, batch: EffectBatch, rows: list[ReviewRecord]) -> None:
    if not rows:
        return
    await conn.executemany(
        """
        INSERT INTO reviews (episode_id, workflow_id, seq, ordinal, review_id, kind,
            clinician_id, at, level, phq9_total, phq9_item9, gad7_total, cssrs_high_risk,
            hours_attended, units_attended, recommended_action, decision, override_reason,
            reasons, cssrs_answers, cssrs_behaviour_past_3_months, cssrs_risk,
            safety_instrument, safety_result, safety_plan, visit_date, visit_kind,
            phq9_items, gad7_items)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)
        """,
        [
            (
                batch.episode.episode_id,
                batch.workflow_id,
                batch.seq,
                i,
                r.review_id,
                r.kind,
                r.clinician_id,
                r.at,
                _opt(r.level),
                r.phq9_total,
                r.phq9_item9,
                r.gad7_total,
                r.cssrs_high_risk,
                r.hours_attended,
                r.units_attended,
                r.recommended_action,
                r.decision,
                r.override_reason,
                r.reasons,
                r.cssrs_answers,
                r.cssrs_behaviour_past_3_months,
                r.cssrs_risk,
                r.safety_instrument,
                r.safety_result,
                r.safety_plan,
                r.visit_date,
                r.visit_kind,
                r.phq9_items,
                r.gad7_items,
            )
            for i, r in enumerate(rows)
        ],
    )


async def _upsert_authorizations(
    conn: Conn, episode_id: str, rows: list[AuthorizationRecord]
) -> None:
    if not rows:
        return
    # Numbered authorizations are one row each (later status/units win); unnumbered ones
    # (requests not yet answered) do not match the partial unique index and are appended.
    await conn.executemany(
        """
        INSERT INTO authorizations AS a (episode_id, authorization_number, payer_id, level,
            status, unit_type, units_approved, units_used, start_date, end_date, recorded_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (episode_id, authorization_number) WHERE authorization_number IS NOT NULL
        DO UPDATE SET
            payer_id = COALESCE(EXCLUDED.payer_id, a.payer_id),
            level = EXCLUDED.level,
            status = EXCLUDED.status,
            unit_type = COALESCE(EXCLUDED.unit_type, a.unit_type),
            units_approved = COALESCE(EXCLUDED.units_approved, a.units_approved),
            units_used = COALESCE(EXCLUDED.units_used, a.units_used),
            start_date = COALESCE(EXCLUDED.start_date, a.start_date),
            end_date = COALESCE(EXCLUDED.end_date, a.end_date),
            recorded_at = EXCLUDED.recorded_at
        WHERE a.recorded_at <= EXCLUDED.recorded_at
        """,
        [
            (
                episode_id,
                r.authorization_number,
                r.payer_id,
                r.level.value,
                r.status,
                r.unit_type,
                r.units_approved,
                r.units_used,
                r.start_date,
                r.end_date,
                r.at,
            )
            for r in rows
        ],
    )


def _opt(value: object | None) -> str | None:
    return None if value is None else str(value)
