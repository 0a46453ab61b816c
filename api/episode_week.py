"""The current IOP week beside an episode's live view (GET /v1/episodes/{id}, the
workbench's episode page): derived from the rosters in PostgreSQL, not from the workflow."""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from api.mutations import records_call
from api.problems import ApiProblem
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
        seated = await records_call(groups_store.ever_seated(pool, episode_id))
        if not seated:
            return None
        policy = await records_call(groups_store.get_policy(pool, program_id))
        return await records_call(weeks.week_view(pool, episode_id, now.date(), policy, now))
    except ApiProblem as problem:
        if problem.status < 500:
            raise
        log.warning("episode week not shown: the records database is unreachable")
        return None


async def with_week(pool: asyncpg.Pool, view: EpisodeView, now: datetime) -> EpisodeView:
    week = await current_week(pool, view.episode_id, view.program_id, now)
    return view.model_copy(update={"week": week}) if week is not None else view
