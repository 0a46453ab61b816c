"""The current IOP week beside an episode's live view (GET /v1/episodes/{id}, the
workbench's episode page): derived from the rosters in PostgreSQL, not from the workflow."""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from api.mutations import records_call
from api.problems import ApiProblem
from rules.attendance_week import local_day
from schemas.view import EpisodeView
from schemas.week import WeekView
from store import groups as groups_store
from store import week_view as weeks

log = logging.getLogger(__name__)


async def current_week(
    pool: asyncpg.Pool, episode_id: str, program_id: str, now: datetime
) -> WeekView | None:
    """This week for an episode ever seated in a group; None otherwise, and None (logged)
    while PostgreSQL is unreachable: the live view still answers."""
    try:
        zone = await records_call(weeks.seated_zone(pool, episode_id))
        if zone is None:
            return None
        policy = await records_call(groups_store.get_policy(pool, program_id))
        today = local_day(now, zone)  # the groups' local week, not UTC's
        return await records_call(weeks.week_view(pool, episode_id, today, policy, now))
    except ApiProblem as problem:
        if problem.status < 500:
            raise
        log.warning("episode week not shown: the records database is unreachable")
        return None


async def with_week(pool: asyncpg.Pool, view: EpisodeView, now: datetime) -> EpisodeView:
    week = await current_week(pool, view.episode_id, view.program_id, now)
    return view.model_copy(update={"week": week}) if week is not None else view
