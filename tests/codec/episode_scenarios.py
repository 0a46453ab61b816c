"""Episode scenarios for the encryption proof; filled in once CareEpisode lands."""

from __future__ import annotations

from temporalio.client import Client


async def run_scenarios(client: Client, name: str, birth_date: str, member_id: str) -> list[str]:
    return []
