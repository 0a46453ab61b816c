"""Attendance notices to the episodes' engines: right after a roster, and in the background
until each is taken, so a notice kept while Temporal was unreachable goes out as soon as
it is back, not with the next roster.

A notice stays in `attendance_notices` until its engine took it (or refused it, kept with
the reason); delivery is idempotent (the notice ID is the update's submission ID, and the
engine answers a repeat with its first answer), so the roster's own delivery and the
background pass may race without harm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from api.episodes_client import EpisodeClient
from api.mutations import records_call
from api.outages import is_records_outage
from api.problems import ApiProblem
from rules.transitions import Action
from store import attendance_notices as notices

log = logging.getLogger(__name__)


@dataclass
class Delivered:
    sent: int = 0
    pending: int = 0
    refused: int = 0


async def deliver_pending(
    engine: EpisodeClient,
    pool: asyncpg.Pool,
    clock: Callable[[], datetime],
    episode_ids: list[str],
) -> Delivered:
    """Hand the episodes' pending notices to their engines, oldest first. A refusal is kept
    with its reason; an unreachable engine (5xx) leaves the notice pending."""
    done = Delivered()
    for episode_id, notice in await records_call(notices.pending_notices(pool, episode_ids)):
        try:
            await engine.submit(episode_id, Action.RECORD_ATTENDANCE, notice)
            outcome = "taken"
        except ApiProblem as problem:
            if problem.status >= 500:
                done.pending += 1
                continue
            outcome = f"refused:{problem.slug}"
        await records_call(
            notices.mark_sent(pool, episode_id, notice.notice_id, outcome=outcome, now=clock())
        )
        if outcome == "taken":
            done.sent += 1
        else:
            done.refused += 1
    return done


@dataclass
class NoticeRetry:
    """The background pass: every `interval_s`, the notices still pending go out."""

    engine: EpisodeClient
    pool: asyncpg.Pool
    clock: Callable[[], datetime]
    interval_s: float = 5.0
    batch: int = 200

    async def pass_once(self) -> Delivered:
        episodes = await records_call(notices.episodes_with_pending(self.pool, limit=self.batch))
        if not episodes:
            return Delivered()
        done = await deliver_pending(self.engine, self.pool, self.clock, episodes)
        if done.sent or done.refused:
            log.info(
                "attendance notices delivered late: %d taken, %d refused, %d still pending",
                done.sent,
                done.refused,
                done.pending,
            )
        return done

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: a pass, then the interval. An outage of PostgreSQL or Temporal is
        waited out; any other error ends the loop (run it under `store.supervise`)."""
        while not stop.is_set():
            try:
                await self.pass_once()
            except ApiProblem as problem:
                if problem.status < 500:
                    raise
            except Exception as error:
                if not is_records_outage(error):
                    raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
