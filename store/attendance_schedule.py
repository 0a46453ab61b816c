"""Sessions made ahead from every group's schedule, whether or not anyone lists them.

A group's sessions are generated `generate_ahead_days` (its program's attendance policy)
ahead when it is made and when its sessions are listed; this pass keeps every group that
far ahead as the days go by, so a roster for today's scheduled session, the episode's
week and the units' projection find the sessions of a group nobody listed lately. Each
group is extended in a transaction of its own (`store.groups.generate_sessions`: once
each, the group row locked).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from store import groups as groups_store


async def sessions_ahead(pool: asyncpg.Pool, now: datetime) -> int:
    """Extend every group whose sessions end before its program's horizon; how many
    sessions were made."""
    rows = await pool.fetch("SELECT group_id, program_id, generated_through FROM care_groups")
    horizons = {}
    made = 0
    for row in rows:
        program = row["program_id"]
        if program not in horizons:
            policy = await groups_store.get_policy(pool, program)
            horizons[program] = now.date() + timedelta(days=policy.generate_ahead_days)
        through = horizons[program]
        if row["generated_through"] is not None and row["generated_through"] >= through:
            continue
        async with pool.acquire() as conn, conn.transaction():
            made += await groups_store.generate_sessions(conn, row["group_id"], through=through)
    return made
