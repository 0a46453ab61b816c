"""Follow-up questionnaires 6 and 12 months after the index PHQ-9, once the episode closed.

The episode's workflow has ended by then, so this lives in the store (`followup_measures`,
migration 0310):

- **scheduled** by the records writer in the transaction that records the closure
  (`schedule_at_closure`, called from `store.postgres`): one row per follow-up of the
  table `FOLLOW_UPS`, from the index PHQ-9 (the first one above the measures' threshold,
  `rules.outcomes.index_score`, on the program's local day as the outcomes report counts
  days: `CAREPATH_PROGRAM_TIME_ZONES`, UTC for a program not named), with
  the policy's windows (CMS159 / MIPS 370 remission at 12 months +/- 60 days, MIPS 411 at
  6 months). Not for an episode entered in error, nor without an index PHQ-9 (outside the
  measures' denominators), nor when the window has already closed.
- **sent** by the follow-up job (`FollowupJob.run_once`, supervised by `run_followups`)
  on its due day (the program's local day, as every day here): a content-free patient
  message in the outbox that asks for the PHQ-9; the patient channel makes the link when
  it delivers and queues the link's one reminder
  (the same path as every questionnaire link). Only to a patient who consented to
  messages at the start (`consents.messaging`, kept in `patient_contacts`) and has a
  consented, addressed channel on file; otherwise nothing is sent, the row says why
  (`not_sent_reason`, on the timeline and the episode page) and the window closes
  unanswered. The patient channel refuses a declined patient again at delivery.
- **answered** when the patient submits on that link (`record_answer`, from the patient
  page): the score goes here, not to Temporal; once per link (a resubmission changes
  nothing). Item 9 > 0 queues the urgent `safety_alert` to the care team in the same
  transaction, on the route every care-team alert takes (an undeliverable one is alerted
  on the alert route by the dispatcher).
- **no_response** when the window closes unanswered (recorded, not a missing row).

Each completed pass moves the job's heartbeat (`service_heartbeats`, service
`followup-job`), which /metrics reports as `followup_job_seconds_since_pass`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import asyncpg

from rules.instruments import gad7_total, phq9_self_harm, phq9_total
from rules.localtime import local_date
from rules.outcome_policy import OutcomePolicy, Window
from rules.outcomes import Score, index_score
from rules.recommendation import risk_reasons
from rules.transitions import CarePhase, Event
from schemas.records import EffectBatch, Recipient, Urgency
from schemas.submissions import PATIENT_ACTOR
from store.channels import care_tasks
from store.channels.contacts import DECLINED
from store.channels.links import Instrument
from store.channels.messages import QUESTIONNAIRE_PARAM
from store.dbtypes import Conn, Db
from store.health import FOLLOWUP_JOB, beat, instance_name
from store.models import TimelineEntry
from store.supervise import Backoff, supervise

log = logging.getLogger(__name__)

PATIENT_TEMPLATE: Final = "new_message"  # the engine's content-free patient message
SAFETY_TEMPLATE: Final = "safety_alert"  # the engine's urgent care-team alert
FOLLOWUP_SOURCE: Final = "followup_questionnaire"


class DueKind(StrEnum):
    SIX_MONTH = "6_month"
    TWELVE_MONTH = "12_month"


class FollowupStatus(StrEnum):
    SCHEDULED = "scheduled"
    SENT = "sent"
    ANSWERED = "answered"
    NO_RESPONSE = "no_response"


@dataclass(frozen=True)
class FollowupPlan:
    """One follow-up: sent `due_days` after the index day; counts inside `window`."""

    due_days: int
    window: Window

    def __post_init__(self) -> None:
        if not self.window.holds(self.due_days):
            raise ValueError("a follow-up's due day must fall inside its window")


@dataclass(frozen=True)
class FollowupPolicy:
    """The follow-ups' numbers: due days (defaults 182 and 365) and the windows of the
    outcome measures (`OutcomePolicy`: 6 months and 12 months, each +/- 60 days)."""

    outcomes: OutcomePolicy = field(default_factory=OutcomePolicy)
    six_month_due_days: int = 182
    twelve_month_due_days: int = 365
    instrument: Instrument = Instrument.PHQ9
    batch_rows: int = 500
    # Each program's IANA zone (`Settings.program_time_zones`): its follow-ups' days are
    # its local days; UTC for a program not named.
    time_zones: Mapping[str, str] = field(default_factory=dict)

    def zone_of(self, program_id: str) -> str:
        return self.time_zones.get(program_id, "UTC")

    def zone_arrays(self) -> tuple[list[str], list[str]]:
        """The zones as two parallel arrays for SQL (`unnest($programs, $zones)`)."""
        return list(self.time_zones), list(self.time_zones.values())

    def plans(self) -> dict[DueKind, FollowupPlan]:
        return {
            DueKind.SIX_MONTH: FollowupPlan(
                self.six_month_due_days, self.outcomes.remission_6_months
            ),
            DueKind.TWELVE_MONTH: FollowupPlan(
                self.twelve_month_due_days, self.outcomes.remission_12_months
            ),
        }


@dataclass(frozen=True)
class PlannedFollowup:
    due_kind: DueKind
    index_date: date
    index_total: int
    window_opens: date
    window_closes: date
    due_on: date


def plan_followups(
    scores: Sequence[Score], closed_on: date, policy: FollowupPolicy
) -> list[PlannedFollowup]:
    """The follow-ups an episode closed on `closed_on` gets (pure): none without an index
    PHQ-9; a window already closed is skipped; a due day already past moves to the
    closure day (still inside the window)."""
    index = index_score(scores, policy.outcomes)
    if index is None:
        return []
    planned: list[PlannedFollowup] = []
    for kind, plan in policy.plans().items():
        opens = index.on + timedelta(days=plan.window.first_day)
        closes = index.on + timedelta(days=plan.window.last_day)
        if closes < closed_on:
            continue
        due = max(index.on + timedelta(days=plan.due_days), closed_on)
        planned.append(PlannedFollowup(kind, index.on, index.total, opens, closes, due))
    return planned


def closing_event(batch: EffectBatch) -> Event | None:
    """The event of the batch's move into `closed`, if it has one."""
    for move in batch.transitions:
        if move.to_phase is CarePhase.CLOSED:
            return move.event
    return None


async def schedule_at_closure(
    conn: Conn, batch: EffectBatch, policy: FollowupPolicy | None = None
) -> int:
    """Schedule the follow-ups of an episode this batch closes (in the batch's
    transaction); the number of rows added. A retried or replayed batch adds none."""
    event = closing_event(batch)
    if event is None or event is Event.ENTERED_IN_ERROR:
        return 0
    policy = policy or FollowupPolicy()
    episode = batch.episode
    rows = await conn.fetch(
        """
        SELECT at, phq9_total FROM reviews
        WHERE episode_id = $1 AND phq9_total IS NOT NULL ORDER BY at, id
        """,
        episode.episode_id,
    )
    tz = policy.zone_of(episode.program_id)
    scores = [Score(on=local_date(r["at"], tz), total=r["phq9_total"]) for r in rows]
    closed_at = episode.closed_at or episode.updated_at
    planned = plan_followups(scores, local_date(closed_at, tz), policy)
    if not planned:
        return 0
    await conn.executemany(
        """
        INSERT INTO followup_measures (episode_id, due_kind, program_id, instrument,
            index_date, index_total, window_opens, window_closes, due_on, scheduled_at,
            updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
        ON CONFLICT (episode_id, due_kind) DO NOTHING
        """,
        [
            (
                episode.episode_id,
                p.due_kind.value,
                episode.program_id,
                policy.instrument.value,
                p.index_date,
                p.index_total,
                p.window_opens,
                p.window_closes,
                p.due_on,
                closed_at,
            )
            for p in planned
        ],
    )
    return len(planned)


@dataclass(frozen=True)
class FollowupRow:
    episode_id: str
    due_kind: DueKind
    program_id: str
    instrument: Instrument
    index_date: date
    index_total: int | None
    window_opens: date
    window_closes: date
    due_on: date
    status: FollowupStatus
    message_id: str | None
    link_id: str | None
    total: int | None
    item9: int | None
    answers: list[int] | None
    answered_at: datetime | None
    sent_at: datetime | None
    reminded_at: datetime | None
    closed_at: datetime | None
    not_sent_reason: str | None = None


_COLUMNS = """episode_id, due_kind, program_id, instrument, index_date, index_total,
    window_opens, window_closes, due_on, status, message_id, link_id, total, item9,
    answers, answered_at, sent_at, reminded_at, closed_at, not_sent_reason"""


def _row(r: asyncpg.Record) -> FollowupRow:
    return _row_of(dict(r))


def _row_of(values: dict[str, Any]) -> FollowupRow:
    values["due_kind"] = DueKind(values["due_kind"])
    values["instrument"] = Instrument(values["instrument"])
    values["status"] = FollowupStatus(values["status"])
    if values["answers"] is not None:
        values["answers"] = list(json.loads(values["answers"]))
    return FollowupRow(**values)


async def followups_of(db: Db, episode_id: str) -> list[FollowupRow]:
    """The episode's follow-ups, soonest due first (the episode page shows them)."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM followup_measures WHERE episode_id = $1 ORDER BY due_on",
        episode_id,
    )
    return [_row(r) for r in rows]


FOLLOWUP_ACTOR: Final = "followup-job"  # the store's job, on steps nobody took by hand
NO_ANSWER: Final = "no answer in the window"


def _entry(
    row: FollowupRow, at: datetime, event: str, actor: str, **fields: object
) -> TimelineEntry:
    return TimelineEntry.model_validate(
        {
            "kind": "followup",
            "at": at,
            "actor": actor,
            "event": event,
            "reason": row.due_kind.value,
            **fields,
        }
    )


def followup_entries(
    row: FollowupRow, scheduled_at: datetime, updated_at: datetime
) -> list[TimelineEntry]:
    """One follow-up's steps for the timeline: scheduled (due day and window), not sent
    (why), sent, reminded, answered (the score; item 9 beside a PHQ-9) or no response."""
    window = f"due {row.due_on}, counts {row.window_opens} to {row.window_closes}"
    entries = [_entry(row, scheduled_at, "followup_scheduled", FOLLOWUP_ACTOR, value=window)]
    if row.not_sent_reason and row.status is FollowupStatus.SCHEDULED:
        entries.append(
            _entry(row, updated_at, "followup_not_sent", FOLLOWUP_ACTOR, value=row.not_sent_reason)
        )
    if row.sent_at is not None:
        entries.append(_entry(row, row.sent_at, "followup_sent", FOLLOWUP_ACTOR))
    if row.reminded_at is not None:
        entries.append(_entry(row, row.reminded_at, "followup_reminded", FOLLOWUP_ACTOR))
    if row.status is FollowupStatus.ANSWERED and row.answered_at is not None:
        phq9 = row.instrument is Instrument.PHQ9
        entries.append(
            _entry(
                row,
                row.answered_at,
                "followup_answered",
                PATIENT_ACTOR,
                phq9_total=row.total if phq9 else None,
                gad7_total=None if phq9 else row.total,
                value=f"item 9: {row.item9}" if row.item9 is not None else None,
            )
        )
    if row.status is FollowupStatus.NO_RESPONSE and row.closed_at is not None:
        entries.append(
            _entry(
                row,
                row.closed_at,
                "followup_no_response",
                FOLLOWUP_ACTOR,
                value=row.not_sent_reason or NO_ANSWER,
            )
        )
    return entries


async def timeline_entries(db: Db, episode_id: str) -> list[TimelineEntry]:
    """Every follow-up step of the episode, for `store.queries.timeline`."""
    rows = await db.fetch(
        f"""SELECT {_COLUMNS}, scheduled_at, updated_at FROM followup_measures
        WHERE episode_id = $1 ORDER BY due_on""",
        episode_id,
    )
    entries: list[TimelineEntry] = []
    for r in rows:
        values = dict(r)
        scheduled_at, updated_at = values.pop("scheduled_at"), values.pop("updated_at")
        entries += followup_entries(_row_of(values), scheduled_at, updated_at)
    return sorted(entries, key=lambda e: e.at)


def followup_message_id(workflow_id: str, kind: DueKind) -> str:
    """The follow-up's one outbox message: derived, so a pass repeated queues it once."""
    return f"{workflow_id}:followup-{kind.value}"


# The row's program's local day at $1 (an instant), from the zones passed as two arrays.
def _local_today(programs: str, zones: str) -> str:
    return f"""(($1::timestamptz AT TIME ZONE coalesce(
        (SELECT z.zone FROM unnest({programs}::text[], {zones}::text[]) AS z(program_id, zone)
         WHERE z.program_id = f.program_id), 'UTC'))::date)"""


# No zone is more than 14 hours ahead of UTC: a bound on every program's local day, so
# the index on due_on still narrows the rows before each row's own day is computed.
def _latest_local_day(now: datetime) -> date:
    return (now.astimezone(UTC) + timedelta(hours=14)).date()


# Rows due today or earlier whose window is open, and whose patient consented to messages
# at the start and has a consented, addressed channel on file (the patient channel's own
# choice; it decides again at delivery). SKIP LOCKED: two jobs share the work.
_DUE = """
SELECT f.episode_id, f.due_kind, f.program_id, f.instrument, e.workflow_id, e.last_seq
FROM followup_measures f
JOIN episodes e USING (episode_id)
JOIN patient_contacts c USING (episode_id)
WHERE f.status = 'scheduled' AND f.due_on <= $5
    AND f.due_on <= {today} AND f.window_closes >= {today}
    AND c.messaging_consent
    AND ((c.prefers_sms AND c.sms_consent AND c.phone IS NOT NULL)
         OR (c.prefers_email AND c.email_consent AND c.email_address IS NOT NULL))
ORDER BY f.due_on
LIMIT $2
FOR UPDATE OF f SKIP LOCKED
""".format(today=_local_today("$3", "$4"))


# Rows due today whose patient cannot be messaged: why, on the row (a reason changes only
# when its cause does, so a pass repeated writes nothing).
_NOT_SENT = """
WITH unreachable AS (
    SELECT f.episode_id, f.due_kind,
        CASE WHEN c.episode_id IS NULL THEN $3
             WHEN NOT c.messaging_consent THEN $4
             ELSE $5 END AS reason
    FROM followup_measures f
    LEFT JOIN patient_contacts c USING (episode_id)
    WHERE f.status = 'scheduled' AND f.due_on <= $8
        AND f.due_on <= {today} AND f.window_closes >= {today}
        AND NOT coalesce(c.messaging_consent
            AND ((c.prefers_sms AND c.sms_consent AND c.phone IS NOT NULL)
                 OR (c.prefers_email AND c.email_consent AND c.email_address IS NOT NULL)),
            false)
)
UPDATE followup_measures f SET not_sent_reason = u.reason, updated_at = $2
FROM unreachable u
WHERE f.episode_id = u.episode_id AND f.due_kind = u.due_kind
    AND f.not_sent_reason IS DISTINCT FROM u.reason
""".format(today=_local_today("$6", "$7"))
NO_CONTACT: Final = "no contact details on file"
NO_CHANNEL: Final = "no consented channel with an address"


@dataclass(frozen=True)
class PassReport:
    sent: int
    closed_unanswered: int
    not_sent: int = 0


class FollowupJob:
    """One pass at a time (`run_once`); the clock and the patients' route are injected."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        patient_route: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        policy: FollowupPolicy | None = None,
        instance: str | None = None,
    ) -> None:
        self._pool = pool
        self._route = patient_route
        self._clock = clock
        self._policy = policy or FollowupPolicy()
        self._instance = instance or instance_name()

    async def run_once(self) -> PassReport:
        now = self._clock()
        sent = await self._send_due(now)
        not_sent = await self._mark_not_sent(now)
        await self._follow_links()
        closed = await self._close_windows(now)
        await beat(self._pool, FOLLOWUP_JOB, self._instance)
        return PassReport(sent=sent, closed_unanswered=closed, not_sent=not_sent)

    async def _mark_not_sent(self, now: datetime) -> int:
        """Say on each follow-up due today that cannot go why it does not (newly said)."""
        programs, zones = self._policy.zone_arrays()
        status = await self._pool.execute(
            _NOT_SENT,
            now,
            now,
            NO_CONTACT,
            DECLINED,
            NO_CHANNEL,
            programs,
            zones,
            _latest_local_day(now),
        )
        return int(status.rsplit(" ", 1)[-1])

    async def _send_due(self, now: datetime) -> int:
        sent = 0
        programs, zones = self._policy.zone_arrays()
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    _DUE, now, self._policy.batch_rows, programs, zones, _latest_local_day(now)
                )
                for r in rows:
                    await self._queue(conn, r, now)
            sent += len(rows)
            if len(rows) < self._policy.batch_rows:
                return sent

    async def _queue(self, conn: Conn, r: asyncpg.Record, now: datetime) -> None:
        message_id = followup_message_id(r["workflow_id"], DueKind(r["due_kind"]))
        await conn.execute(
            """
            INSERT INTO notification_outbox (message_id, episode_id, program_id, workflow_id,
                seq, channel, template, recipient_role, urgency, params, next_attempt_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11)
            ON CONFLICT (message_id) DO NOTHING
            """,
            message_id,
            r["episode_id"],
            r["program_id"],
            r["workflow_id"],
            r["last_seq"],
            self._route,
            PATIENT_TEMPLATE,
            Recipient.PATIENT.value,
            Urgency.ROUTINE.value,
            json.dumps({QUESTIONNAIRE_PARAM: r["instrument"]}),
            now,
        )
        await conn.execute(
            """
            UPDATE followup_measures SET status = 'sent', message_id = $3, sent_at = $4,
                not_sent_reason = NULL, updated_at = $4
            WHERE episode_id = $1 AND due_kind = $2 AND status = 'scheduled'
            """,
            r["episode_id"],
            r["due_kind"],
            message_id,
            now,
        )

    async def _follow_links(self) -> None:
        """The link the patient channel made for each sent follow-up, and its reminder."""
        await self._pool.execute(
            """
            UPDATE followup_measures f SET link_id = l.link_id, reminded_at = l.reminded_at
            FROM questionnaire_links l
            WHERE l.message_id = f.message_id AND f.status = 'sent'
                AND (f.link_id IS DISTINCT FROM l.link_id
                     OR f.reminded_at IS DISTINCT FROM l.reminded_at)
            """
        )

    async def _close_windows(self, now: datetime) -> int:
        """Record `no_response` where the window's last local day has passed."""
        programs, zones = self._policy.zone_arrays()
        status = await self._pool.execute(
            f"""
            UPDATE followup_measures f
            SET status = 'no_response', closed_at = $1, updated_at = $1
            WHERE f.status IN ('scheduled', 'sent') AND f.window_closes < $4
                AND f.window_closes < {_local_today("$2", "$3")}
            """,
            now,
            programs,
            zones,
            _latest_local_day(now),
        )
        return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True)
class RecordedAnswer:
    """A follow-up answer as recorded (or as recorded first, for a resubmission)."""

    due_kind: DueKind
    total: int
    item9: int | None
    urgent: bool
    new: bool


async def followup_of_link(db: Db, link_id: str) -> DueKind | None:
    """Which follow-up a questionnaire link answers; None for the engine's own links."""
    kind = await db.fetchval(
        """
        SELECT f.due_kind FROM followup_measures f
        JOIN questionnaire_links l ON l.message_id = f.message_id
        WHERE l.link_id = $1
        """,
        link_id,
    )
    return None if kind is None else DueKind(kind)


async def record_answer(
    pool: asyncpg.Pool,
    *,
    link_id: str,
    instrument: Instrument,
    answers: list[int],
    now: datetime,
    care_team_route: str,
) -> RecordedAnswer | None:
    """Record the patient's answers on a follow-up link, once: the score, the link used,
    and with PHQ-9 item 9 > 0 the urgent care-team alert, in one transaction. A second
    submission on the same link records nothing and returns the first. None when the link
    answers no follow-up. A late answer (the window closed meanwhile) is still recorded:
    an answer beats a recorded non-response; the report decides whether its day counts."""
    phq9 = instrument is Instrument.PHQ9
    total = phq9_total(answers) if phq9 else gad7_total(answers)
    item9 = answers[8] if phq9 else None
    urgent = phq9 and phq9_self_harm(answers)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """
            SELECT f.episode_id, f.due_kind, f.program_id, f.status, f.total, f.item9,
                e.workflow_id, e.last_seq
            FROM followup_measures f
            JOIN questionnaire_links l ON l.message_id = f.message_id
            JOIN episodes e ON e.episode_id = f.episode_id
            WHERE l.link_id = $1
            FOR UPDATE OF f
            """,
            link_id,
        )
        if row is None:
            return None
        kind = DueKind(row["due_kind"])
        if row["status"] == FollowupStatus.ANSWERED:
            first_item9 = row["item9"]
            return RecordedAnswer(
                kind, row["total"], first_item9, bool(first_item9 and first_item9 > 0), False
            )
        await conn.execute(
            """
            UPDATE followup_measures SET status = 'answered', total = $3, item9 = $4,
                answers = $5::jsonb, answered_at = $6, link_id = $7, closed_at = NULL,
                updated_at = $6
            WHERE episode_id = $1 AND due_kind = $2
            """,
            row["episode_id"],
            kind.value,
            total,
            item9,
            json.dumps(answers),
            now,
            link_id,
        )
        await conn.execute(
            "UPDATE questionnaire_links SET used_at = $2 WHERE link_id = $1 AND used_at IS NULL",
            link_id,
            now,
        )
        if urgent:
            alert = await _queue_safety_alert(conn, row, kind, now, care_team_route)
            await care_tasks.open_for_patient_alert(
                conn,
                alert_message_id=alert,
                answers_id=link_id,
                episode_id=row["episode_id"],
                program_id=row["program_id"],
                workflow_id=row["workflow_id"],
                seq=row["last_seq"],
                at=now,
            )
    return RecordedAnswer(kind, total, item9, urgent, True)


async def _queue_safety_alert(
    conn: Conn, row: asyncpg.Record, kind: DueKind, now: datetime, route: str
) -> str:
    """The care team's urgent alert, as the engine queues it for a patient's item 9 > 0
    (template `safety_alert`, the same reasons), naming the follow-up it came from; returns
    its message ID."""
    reasons = risk_reasons(self_harm=True, cssrs_risk=None)
    message_id = f"{followup_message_id(row['workflow_id'], kind)}.safety"
    await conn.execute(
        """
        INSERT INTO notification_outbox (message_id, episode_id, program_id, workflow_id,
            seq, channel, template, recipient_role, urgency, params, next_attempt_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11)
        ON CONFLICT (message_id) DO NOTHING
        """,
        message_id,
        row["episode_id"],
        row["program_id"],
        row["workflow_id"],
        row["last_seq"],
        route,
        SAFETY_TEMPLATE,
        Recipient.CARE_TEAM.value,
        Urgency.URGENT.value,
        json.dumps(
            {
                "reason": reasons[0],
                "reasons": ",".join(reasons),
                "source": FOLLOWUP_SOURCE,
                "followup": kind.value,
            },
            sort_keys=True,
        ),
        now,
    )
    return message_id


async def run_followups(
    job: FollowupJob,
    *,
    stop: asyncio.Event,
    interval_s: float = 900.0,
    backoff: Backoff | None = None,
) -> None:
    """A pass every `interval_s` until `stop` is set (the first at once), supervised like
    the dispatcher and the retention job: an error is logged and the loop starts again."""

    async def passes() -> None:
        while not stop.is_set():
            report = await job.run_once()
            if report.sent or report.closed_unanswered:
                log.info(
                    "follow-up pass: %d sent, %d closed unanswered",
                    report.sent,
                    report.closed_unanswered,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    await supervise("follow-up questionnaires", passes, stop=stop, backoff=backoff)
