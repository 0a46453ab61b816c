"""carepath's own operational gauges, read from PostgreSQL in one round trip.

Any process can export them (the API's /metrics does, at scrape time). Counts only: no
episode ID, patient or program appears in a gauge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import asyncpg

from store.health import DISPATCHER, FOLLOWUP_JOB
from store.queries import _CLOSED, ACTIVE_AUTHORIZATION_STATUSES


@dataclass(frozen=True)
class CareGauges:
    outbox_pending: int
    outbox_oldest_pending_seconds: float  # 0 when nothing is pending
    outbox_failed: int
    dispatcher_seconds_since_pass: float | None  # None: no dispatcher ever ran
    parked_batches: int  # record batches refused by PostgreSQL, waiting for an operator
    open_risk_flags: int  # open episodes whose risk flag awaits a safety assessment
    authorizations_expiring: int  # active authorizations of open episodes ending soon
    followup_job_seconds_since_pass: float | None  # None: the follow-up job never ran

    def as_dict(self) -> dict[str, float | None]:
        return {k: (None if v is None else float(v)) for k, v in asdict(self).items()}


async def care_gauges(pool: asyncpg.Pool, *, expiring_within_days: int) -> CareGauges:
    row = await pool.fetchrow(
        """
        SELECT
          (SELECT count(*) FROM notification_outbox WHERE status = 'pending') AS pending,
          (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
             FROM notification_outbox WHERE status = 'pending') AS oldest,
          (SELECT count(*) FROM notification_outbox WHERE status = 'failed') AS failed,
          (SELECT extract(epoch FROM now() - max(last_pass_at))::float8
             FROM service_heartbeats WHERE service = $1) AS since,
          (SELECT count(*) FROM parked_batches WHERE resolved_at IS NULL) AS parked,
          (SELECT count(*) FROM episodes WHERE risk_flag AND phase <> $2) AS risk,
          (SELECT count(*) FROM authorizations a JOIN episodes e USING (episode_id)
             WHERE a.status = ANY($3) AND e.phase <> $2
               AND a.end_date BETWEEN current_date AND current_date + $4::int) AS expiring,
          (SELECT extract(epoch FROM now() - max(last_pass_at))::float8
             FROM service_heartbeats WHERE service = $5) AS followup_since
        """,
        DISPATCHER,
        _CLOSED,
        list(ACTIVE_AUTHORIZATION_STATUSES),
        expiring_within_days,
        FOLLOWUP_JOB,
    )
    assert row is not None
    return CareGauges(
        outbox_pending=row["pending"],
        outbox_oldest_pending_seconds=row["oldest"],
        outbox_failed=row["failed"],
        dispatcher_seconds_since_pass=row["since"],
        parked_batches=row["parked"],
        open_risk_flags=row["risk"],
        authorizations_expiring=row["expiring"],
        followup_job_seconds_since_pass=row["followup_since"],
    )
