"""Reading an episode's timeline in tests: records reach PostgreSQL just after the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import httpx


async def timeline(
    client: httpx.AsyncClient, episode_id: str, headers: Mapping[str, str]
) -> list[dict[str, Any]]:
    answer = await client.get(f"/v1/episodes/{episode_id}/timeline", headers=headers)
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()
    return entries


async def timeline_until(
    client: httpx.AsyncClient,
    episode_id: str,
    headers: Mapping[str, str],
    wanted: Callable[[list[dict[str, Any]]], bool],
) -> list[dict[str, Any]]:
    """The timeline once `wanted` holds for it, polled a bounded number of times."""
    entries: list[dict[str, Any]] = []
    for _ in range(200):
        entries = await timeline(client, episode_id, headers)
        if wanted(entries):
            return entries
        await asyncio.sleep(0.05)
    raise AssertionError(f"the timeline never got there: {entries}")
