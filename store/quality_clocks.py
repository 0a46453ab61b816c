"""Live quality clocks in PostgreSQL (`quality_clocks`, migration 0900): written from the
workflow's records batch, read by the Today page and the attendance path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict

from schemas.quality import ClockStatus, QualityClock, QualityMeasure
from store.dbtypes import Conn, Db


async def upsert_clocks(
    conn: Conn,
    *,
    workflow_id: str,
    seq: int,
    episode_id: str,
    program_id: str,
    clocks: list[QualityClock],
) -> None:
    """Each clock's latest state; a batch older than the row's (a replay) changes nothing."""
    if not clocks:
        return
    await conn.executemany(
        """
        INSERT INTO quality_clocks AS q (episode_id, clock_id, program_id, measure, status,
            index_date, first_day, last_day, closes_at, alert_at, alerted_at, services_needed,
            service_days, met_on, opened_at, closed_at, updated_at, workflow_id, seq)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18, $19)
        ON CONFLICT (episode_id, clock_id) DO UPDATE SET
            status = EXCLUDED.status, alert_at = EXCLUDED.alert_at,
            alerted_at = EXCLUDED.alerted_at, service_days = EXCLUDED.service_days,
            met_on = EXCLUDED.met_on, closed_at = EXCLUDED.closed_at,
            updated_at = EXCLUDED.updated_at, workflow_id = EXCLUDED.workflow_id,
            seq = EXCLUDED.seq
        WHERE q.seq <= EXCLUDED.seq
        """,
        [
            (
                episode_id,
                c.clock_id,
                program_id,
                c.measure.value,
                c.status.value,
                c.index_date,
                c.first_day,
                c.last_day,
                c.closes_at,
                c.alert_at,
                c.alerted_at,
                c.services_needed,
                sorted(c.service_days),
                c.met_on,
                c.opened_at,
                c.closed_at,
                c.updated_at,
                workflow_id,
                seq,
            )
            for c in clocks
        ],
    )


class OpenClockLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    episode_id: str
    program_id: str
    measure: QualityMeasure
    index_date: date
    last_day: date
    services_needed: int
    services_counted: int
    alerted: bool


async def open_clocks(
    db: Db, *, programs: list[str] | None, limit: int
) -> tuple[list[OpenClockLine], int]:
    """Open clocks of the programs (all when None), soonest last day first, and their count."""
    rows = await db.fetch(
        """
        SELECT episode_id, program_id, measure, index_date, last_day, services_needed,
               cardinality(service_days) AS services_counted, alerted_at IS NOT NULL AS alerted,
               count(*) OVER () AS total
        FROM quality_clocks
        WHERE status = $1 AND ($2::text[] IS NULL OR program_id = ANY($2))
        ORDER BY last_day, episode_id, clock_id
        LIMIT $3
        """,
        ClockStatus.OPEN.value,
        programs,
        limit,
    )
    total = int(rows[0]["total"]) if rows else 0
    lines = [
        OpenClockLine.model_validate({k: v for k, v in dict(r).items() if k != "total"})
        for r in rows
    ]
    return lines, total


async def episodes_with_open_clocks(db: Db, episode_ids: Sequence[str]) -> set[str]:
    """Of these episodes, those with a quality clock open (an attended session may count)."""
    rows = await db.fetch(
        """SELECT DISTINCT episode_id FROM quality_clocks
           WHERE status = $1 AND episode_id = ANY($2::text[])""",
        ClockStatus.OPEN.value,
        list(episode_ids),
    )
    return {r["episode_id"] for r in rows}
