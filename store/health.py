"""Health signals kept in PostgreSQL, so any process (the API's /readyz, a probe) can read them.

- Heartbeats: a background loop (the outbox dispatcher) moves its row's `last_pass_at`
  after each completed pass; a row that stops moving is a loop that died or hangs.
- Parked batches: record batches PostgreSQL refused for their content, waiting for an
  operator (see `store.postgres`).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

DISPATCHER = "outbox-dispatcher"
FOLLOWUP_JOB = "followup-job"  # store/followups.py


def instance_name() -> str:
    """This process, as a heartbeat row names it: host and process ID, no patient data."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def beat(pool: asyncpg.Pool, service: str, instance: str) -> None:
    """Record that `service` on `instance` completed a pass now (the database's clock)."""
    await pool.execute(
        """
        INSERT INTO service_heartbeats (service, instance, last_pass_at) VALUES ($1, $2, now())
        ON CONFLICT (service, instance) DO UPDATE SET last_pass_at = EXCLUDED.last_pass_at
        """,
        service,
        instance,
    )


@dataclass(frozen=True)
class StoreHealth:
    """What /readyz reports beyond "PostgreSQL answers"."""

    dispatcher_seconds_since_pass: float | None
    parked_batches: int

    def dispatcher_fresh(self, stale_after: timedelta) -> bool:
        """True if some dispatcher completed a pass within `stale_after`."""
        since = self.dispatcher_seconds_since_pass
        return since is not None and since <= stale_after.total_seconds()


async def store_health(pool: asyncpg.Pool) -> StoreHealth:
    """Seconds since any dispatcher's last pass (None: never ran) and open parked batches."""
    row = await pool.fetchrow(
        """
        SELECT
            (SELECT extract(epoch FROM now() - max(last_pass_at))::float8
             FROM service_heartbeats WHERE service = $1) AS since,
            (SELECT count(*) FROM parked_batches WHERE resolved_at IS NULL) AS parked
        """,
        DISPATCHER,
    )
    assert row is not None
    return StoreHealth(dispatcher_seconds_since_pass=row["since"], parked_batches=row["parked"])
