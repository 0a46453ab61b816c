"""Rows for a seeded program, written straight into the care-record tables (COPY): a few
episodes built for the measures' edges, and many drawn at random from a fixed seed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from schemas.quality import ClockStatus, QualityMeasure
from store.dbtypes import Db
from store.postgres import TRANSITION_COLUMNS

P, E, L = CarePhase, Event, LevelOfCare
PROGRAM = "prog-seed"


@dataclass(frozen=True)
class Clock:
    """One quality clock's row as the engine leaves it."""

    measure: QualityMeasure
    status: ClockStatus
    index_date: date
    days: int  # the window's length: last day = index date + days
    met_on: date | None = None

    @property
    def last_day(self) -> date:
        return self.index_date + timedelta(days=self.days)


async def insert_clocks(conn: Db, program_id: str, rows: list[tuple[str, Clock]]) -> None:
    """(episode ID, clock) rows into quality_clocks."""
    await conn.executemany(
        """INSERT INTO quality_clocks (episode_id, clock_id, program_id, measure, status,
            index_date, first_day, last_day, closes_at, met_on, opened_at, updated_at,
            workflow_id, seq)
        VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $8, $8, $10, 1)""",
        [
            (
                eid,
                f"{c.measure.value}-{c.index_date.isoformat()}",
                program_id,
                c.measure.value,
                c.status.value,
                c.index_date,
                c.last_day,
                datetime.combine(c.last_day, datetime.min.time(), UTC) + timedelta(days=1),
                c.met_on,
                f"care-episode-{eid}",
            )
            for eid, c in rows
        ],
    )


@dataclass
class Episode:
    episode_id: str
    started_at: datetime
    program_id: str = PROGRAM
    closed_at: datetime | None = None
    # (at, from, to, event, delivered level)
    moves: list[tuple[datetime, CarePhase, CarePhase, Event, LevelOfCare | None]] = field(
        default_factory=list
    )
    scores: list[tuple[datetime, int | None]] = field(default_factory=list)
    visits: list[date] = field(default_factory=list)  # recorded follow-up visits
    sessions: list[datetime] = field(default_factory=list)  # attended group sessions
    no_shows: list[datetime] = field(default_factory=list)
    clocks: list[Clock] = field(default_factory=list)
    # Follow-up questionnaires after the close: (due kind, status, total, answered at).
    followups: list[tuple[str, str, int | None, datetime | None]] = field(default_factory=list)

    def move(
        self,
        at: datetime,
        to: CarePhase,
        event: Event,
        level: LevelOfCare | None = None,
    ) -> Episode:
        before = self.moves[-1][2] if self.moves else P.REFERRAL
        self.moves.append((at, before, to, event, level))
        return self


async def write(pool: asyncpg.Pool, episodes: list[Episode]) -> None:
    ep_rows: list[tuple[Any, ...]] = []
    tr_rows: list[tuple[Any, ...]] = []
    rv_rows: list[tuple[Any, ...]] = []
    sessions: dict[datetime, str] = {}
    at_rows: list[tuple[Any, ...]] = []
    for ep in episodes:
        wid = f"care-episode-{ep.episode_id}"
        last = ep.moves[-1] if ep.moves else None
        phase = last[2] if last else P.REFERRAL
        ep_rows.append(
            (
                ep.episode_id,
                wid,
                ep.program_id,
                phase.value,
                ep.started_at,
                ep.closed_at,
                ep.started_at,
                1,
            )
        )
        # Moves that share an instant are one batch (one seq, ordinals 0, 1, ...).
        seq = ordinal = 0
        for i, (at, f, t, ev, lv) in enumerate(ep.moves):
            same = i > 0 and ep.moves[i - 1][0] == at
            seq, ordinal = (seq, ordinal + 1) if same else (seq + 1, 0)
            tr_rows.append(
                (
                    ep.episode_id,
                    wid,
                    seq,
                    ordinal,
                    "run",
                    f.value,
                    t.value,
                    ev.value,
                    ev.value,
                    "c",
                    at,
                    lv and lv.value,
                    lv and lv.value,
                )
            )
        for j, (at, total) in enumerate(ep.scores):
            rv_rows.append(
                (ep.episode_id, wid, 1000 + j, 0, f"r{j}", "review", "c", at, total, None)
            )
        for j, day in enumerate(ep.visits):
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
            rv_rows.append(
                (ep.episode_id, wid, 2000 + j, 0, f"v{j}", "followup_visit", "c", at, None, day)
            )
        for status, days in (("attended", ep.sessions), ("no_show", ep.no_shows)):
            for at in days:
                sid = sessions.setdefault(at, f"s{len(sessions)}")
                at_rows.append(
                    (
                        sid,
                        ep.episode_id,
                        status,
                        180 if status == "attended" else 0,
                        "in_person",
                        "c",
                        at,
                    )
                )
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO care_groups (group_id, program_id, name, level, weekdays,
                start_time, duration_minutes, modality, capacity, facilitator_ref, time_zone,
                created_at)
            VALUES ('g1', $1, 'Group', 'iop', '{1,2,3,4,5,6,7}', '09:00', 180, 'in_person',
                12, 'f1', 'UTC', now()) ON CONFLICT DO NOTHING""",
            PROGRAM,
        )
        await conn.copy_records_to_table(
            "episodes",
            records=ep_rows,
            columns=[
                "episode_id",
                "workflow_id",
                "program_id",
                "phase",
                "started_at",
                "closed_at",
                "updated_at",
                "last_seq",
            ],
        )
        await conn.copy_records_to_table(
            "transitions", records=tr_rows, columns=list(TRANSITION_COLUMNS)
        )
        await conn.copy_records_to_table(
            "reviews",
            records=rv_rows,
            columns=[
                "episode_id",
                "workflow_id",
                "seq",
                "ordinal",
                "review_id",
                "kind",
                "clinician_id",
                "at",
                "phq9_total",
                "visit_date",
            ],
        )
        await conn.copy_records_to_table(
            "group_sessions",
            records=[
                (sid, "g1", at.date(), at, 180, "in_person", "scheduled")
                for at, sid in sessions.items()
            ],
            columns=[
                "session_id",
                "group_id",
                "session_date",
                "starts_at",
                "duration_minutes",
                "modality",
                "kind",
            ],
        )
        await conn.copy_records_to_table(
            "attendance",
            records=at_rows,
            columns=[
                "session_id",
                "episode_id",
                "status",
                "minutes",
                "modality",
                "recorded_by",
                "recorded_at",
            ],
        )
        await insert_clocks(
            conn, PROGRAM, [(ep.episode_id, c) for ep in episodes for c in ep.clocks]
        )
        await conn.copy_records_to_table(
            "followup_measures",
            records=[
                followup_row(ep, kind, status, total, at)
                for ep in episodes
                for kind, status, total, at in ep.followups
            ],
            columns=FOLLOWUP_COLUMNS,
        )


FOLLOWUP_COLUMNS = [
    "episode_id",
    "due_kind",
    "program_id",
    "instrument",
    "index_date",
    "window_opens",
    "window_closes",
    "due_on",
    "status",
    "total",
    "answers",
    "answered_at",
    "closed_at",
    "scheduled_at",
    "updated_at",
]


def followup_row(
    ep: Episode, kind: str, status: str, total: int | None, at: datetime | None
) -> tuple[Any, ...]:
    """A follow-up questionnaire's row (its window's dates do not matter to the report)."""
    day = ep.started_at.date()
    return (
        ep.episode_id,
        kind,
        ep.program_id,
        "phq9",
        day,
        day,
        day,
        day,
        status,
        total,
        "[]" if status == "answered" else None,
        at if status == "answered" else None,
        at if status == "no_response" else None,
        ep.started_at,
        ep.started_at,
    )


# Moves a random walk may take from each phase: (to, event, needs a level).
STEPS: dict[CarePhase, list[tuple[CarePhase, Event, bool]]] = {
    P.REFERRAL: [(P.ASSESSMENT, E.REFERRAL_RECEIVED, False)],
    P.ASSESSMENT: [
        (P.AUTHORIZATION, E.ASSESSED_PROGRAM_LEVEL, False),
        (P.CLOSED, E.ASSESSED_EXTERNAL_CLOSE, False),
        (P.CLOSED, E.REFERRAL_CLOSED, False),
        (P.CLOSED, E.ENTERED_IN_ERROR, False),
    ],
    P.AUTHORIZATION: [
        (P.IN_TREATMENT, E.AUTH_APPROVED, True),
        (P.IN_TREATMENT, E.AUTH_APPROVED, True),
        (P.CLOSED, E.APPEAL_UPHELD, False),
    ],
    P.IN_TREATMENT: [
        (P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, True),
        (P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, True),
        (P.IN_TREATMENT, E.REVIEW_RECORDED, True),
        (P.EXTERNAL_CARE, E.REFER_OUT, True),
        (P.AFTERCARE, E.DISCHARGE, False),
        (P.AFTERCARE, E.WITHDRAWN, False),
        (P.CLOSED, E.ENTERED_IN_ERROR, False),
    ],
    P.EXTERNAL_CARE: [
        (P.IN_TREATMENT, E.EXTERNAL_DISCHARGE_NO_AUTH, True),
        (P.IN_TREATMENT, E.EXTERNAL_DISCHARGE_NEEDS_AUTH, True),
        (P.AFTERCARE, E.EXTERNAL_DISCHARGE_HOME, False),
        (P.CLOSED, E.REFERRAL_CLOSED, False),
        (P.CLOSED, E.EXTERNAL_WAIT_EXPIRED, False),
    ],
    P.AFTERCARE: [(P.CLOSED, E.AFTERCARE_COMPLETED, False)],
}
PROGRAM_LEVELS = [L.OP, L.IOP, L.PHP]
EXTERNAL_LEVELS = [L.INPATIENT, L.RESIDENTIAL]


def random_episodes(count: int, *, seed: int, around: datetime) -> list[Episode]:
    """Episodes with random paths, scores (some on one day, some missing) and visits
    (some on the day of a return or a start), starting within a year of `around`."""
    rnd = random.Random(seed)
    found: list[Episode] = []
    for n in range(count):
        # Whole hours, so several records fall on one instant and on one day.
        start = around + timedelta(hours=rnd.randrange(-24 * 365, 24 * 200))
        ep = Episode(f"x{n:04d}", start)
        at, phase = start, P.REFERRAL
        for _ in range(rnd.randint(1, 9)):
            choices = STEPS.get(phase)
            if not choices:
                break
            to, event, leveled = rnd.choice(choices)
            at += timedelta(hours=rnd.choice([0, 0, 6, 24, 24 * 3, 24 * 7, 24 * 20, 24 * 30]))
            level = None
            if leveled:
                level = rnd.choice(EXTERNAL_LEVELS if to is P.EXTERNAL_CARE else PROGRAM_LEVELS)
            ep.move(at, to, event, level)
            phase = to
            if (
                to is P.IN_TREATMENT
                and event
                in (
                    E.EXTERNAL_DISCHARGE_NO_AUTH,
                    E.EXTERNAL_DISCHARGE_NEEDS_AUTH,
                )
            ) or to is P.AFTERCARE:
                for _ in range(rnd.randint(0, 3)):
                    day = at.date() + timedelta(days=rnd.choice([0, 1, 6, 7, 8, 29, 30, 31]))
                    if rnd.random() < 0.5:
                        ep.visits.append(day)
                    else:
                        ep.sessions.append(
                            datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)
                        )
        if phase is P.CLOSED:
            ep.closed_at = at
        for _ in range(rnd.randint(0, 3)):  # IET services around the start
            day = start.date() + timedelta(days=rnd.choice([0, 1, 13, 14, 15, 20, 40, 48, 49]))
            ep.sessions.append(datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9))
        score_at = start
        for _ in range(rnd.randint(0, 6)):
            score_at += timedelta(
                hours=rnd.choice([0, 3, 24, 24 * 7, 24 * 60, 24 * 121, 24 * 122, 24 * 242])
            )
            ep.scores.append((score_at, rnd.choice([None, 2, 4, 5, 9, 10, 12, 20, 27])))
        for measure in QualityMeasure:  # clocks in every state, some past their last day
            if rnd.random() < 0.5:
                day = start.date() + timedelta(days=rnd.randrange(0, 60))
                initiated = [c.met_on for c in ep.clocks if c.met_on is not None]
                if measure is QualityMeasure.IET_ENGAGEMENT and initiated:
                    day = initiated[-1]
                status = rnd.choice(list(ClockStatus))
                met = day + timedelta(days=3) if status is ClockStatus.MET else None
                ep.clocks.append(Clock(measure, status, day, rnd.choice([7, 14, 30]), met))
        for kind in ("6_month", "12_month"):
            roll = rnd.random()
            answered = start + timedelta(hours=rnd.randrange(24 * 100, 24 * 430))
            if roll < 0.3:
                ep.followups.append((kind, "answered", rnd.choice([2, 4, 8, 15]), answered))
            elif roll < 0.5:
                ep.followups.append((kind, "no_response", None, answered))
        ep.sessions = sorted(set(ep.sessions))
        ep.visits = sorted(set(ep.visits))
        found.append(ep)
    return found
