"""The API's background pass that keeps every group's sessions made ahead of today
(`store.attendance_schedule.sessions_ahead`), so a group nobody lists still has its
scheduled sessions when its rosters come. Hourly; an outage of PostgreSQL is waited out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from api.outages import is_records_outage
from store.attendance_schedule import sessions_ahead

log = logging.getLogger(__name__)

INTERVAL_S = 3600.0


@dataclass
class SessionsAhead:
    pool: asyncpg.Pool
    clock: Callable[[], datetime]
    interval_s: float = INTERVAL_S

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: a pass, then the interval. Any error but an outage ends the loop
        (run it under `store.supervise`)."""
        while not stop.is_set():
            try:
                made = await sessions_ahead(self.pool, self.clock())
                if made:
                    log.info("%d group sessions made ahead from their schedules", made)
            except Exception as error:
                if not is_records_outage(error):
                    raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
