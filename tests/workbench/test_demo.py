"""`make demo` fills a program with an episode in every phase, through the HTTP API."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from api.workbench.demo import SCENARIOS, DemoKeys, fill_demo

KEYS = DemoKeys(
    by_role={"clinic-system": "tok-clinic", "care-team": "tok-care"},
    actors={"clinic-system": "ehr-main", "care-team": "clin-7"},
)


async def test_demo_reaches_every_scenarios_phase(wb_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=wb_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as client:
        reached = await fill_demo(client, KEYS, program="iop-adult")
        got = sorted(reached.values())
        assert got == sorted(s.expect for s in SCENARIOS), got
        flagged = await client.get(
            "/v1/episodes",
            params={"program": "iop-adult", "risk_flag": "true", "limit": 500},
            headers={"Authorization": "Bearer tok-care"},
        )
        assert set(reached) & {e["episode_id"] for e in flagged.json()["items"]}


async def test_demo_fills_the_worklists_people_open(wb_app: FastAPI) -> None:
    """Today and the UR queue list the demo's risk flag, payer request, appeal, approval."""
    from api.workbench.accounts import PersonRole
    from tests.workbench.conftest import add_account, person, sign_in

    transport = httpx.ASGITransport(app=wb_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as client:
        reached = await fill_demo(client, KEYS, program="iop-adult")
        by_phase: dict[str, list[str]] = {}
        for episode_id, phase in reached.items():
            by_phase.setdefault(phase, []).append(episode_id)

        def section(html: str, marker: str) -> str:
            return html.split(marker, 1)[1].split("</section>", 1)[0]

        reviewer = await add_account(wb_app, person(PersonRole.UTILIZATION_REVIEW))
        assert (await sign_in(client, reviewer)).status_code == 303
        queue = (await client.get("/app/utilization-review?program=iop-adult")).text
        assert by_phase["authorization"][0] in section(queue, 'data-list="ur-payer"')
        assert by_phase["appeal"][0] in section(queue, 'data-list="ur-appeals"')
        approved = [e for e, p in reached.items() if p == "in_treatment"]
        authorizations = section(queue, 'data-list="ur-authorizations"')
        assert any(episode_id in authorizations for episode_id in approved)

        care = await add_account(wb_app, person(PersonRole.CARE_TEAM))
        assert (await sign_in(client, care)).status_code == 303
        today = (await client.get("/app/?program=iop-adult")).text
        assert by_phase["appeal"][0] in section(today, 'data-list="appeals"')
        assert by_phase["aftercare"][0] in section(today, 'data-list="aftercare"')
        assert by_phase["authorization"][0] in section(today, 'data-list="payer"')
