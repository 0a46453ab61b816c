"""A Part 2 program's packet: assembled by the records writer with the 42 CFR 2.32 notice,
labelled in FHIR, downloaded by UR staff from the workbench (audited), nobody else."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from api.reports.packet import packet_bundle, packet_html
from api.reports.pdf import pdf_unavailable_reason
from api.workbench.accounts import PersonRole
from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from schemas.review_packet import PART2_NOTICE
from store import review_packets
from store.postgres import PostgresRecordStore
from tests.api.conftest import PART2_PROGRAM
from tests.store.store_builders import authorization, batch, move, review, snapshot
from tests.workbench.conftest import add_account, person, sign_in

EPISODE = "packet-wb-1"


def d(day: int) -> datetime:
    return datetime(2024, 5, day, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
async def packet_id(api_pool: asyncpg.Pool) -> str:
    await api_pool.execute(
        """INSERT INTO episode_disclosure_terms (episode_id, program_id, part2_program,
            payer_disclosure, recorded_at) VALUES ($1, $2, true, true, $3)""",
        EPISODE,
        PART2_PROGRAM,
        d(1),
    )
    store = PostgresRecordStore(api_pool)
    ep = snapshot(
        EPISODE,
        program_id=PART2_PROGRAM,
        phase=CarePhase.IN_TREATMENT,
        delivered_level=LevelOfCare.IOP,
        authorized_level=LevelOfCare.IOP,
        started_at=d(1),
        updated_at=d(2),
    )
    auth = authorization("AUTH-P2", units_approved=10, units_used=7, at=d(2))
    await store.apply(
        batch(
            9_200_001,
            ep,
            transitions=[
                move(
                    CarePhase.AUTHORIZATION,
                    CarePhase.IN_TREATMENT,
                    Event.AUTH_APPROVED,
                    d(2),
                    LevelOfCare.IOP,
                ),
            ],
            reviews=[
                review(
                    "a1",
                    d(1),
                    19,
                    kind="assessment",
                    gad7_total=14,
                    cssrs_risk="low",
                    cssrs_high_risk=False,
                    recommended_action="enroll",
                    reasons=["phq9_moderately_severe"],
                ),
            ],
            authorizations=[auth],
        )
    )
    later = ep.model_copy(update={"updated_at": d(20)})
    await store.apply(
        batch(
            9_200_002,
            later,
            reviews=[
                review("r2", d(20), 12, recommended_action="continue", reasons=["improving"]),
                review(
                    "r2",
                    d(20),
                    12,
                    kind="decision",
                    phq9_total=None,
                    decision="continue",
                    override_reason="Needs two more weeks for relapse plan",
                ),
            ],
            authorizations=[
                auth.model_copy(
                    update={
                        "status": "concurrent_review_requested",
                        "units_used": None,
                        "at": d(20),
                    }
                )
            ],
        )
    )
    [row] = await review_packets.packets_of(api_pool, EPISODE)
    return row.packet_id


async def test_part2_packet_content(api_pool: asyncpg.Pool, packet_id: str) -> None:
    row = await review_packets.packet(api_pool, packet_id)
    assert row is not None and row.packet is not None
    packet = row.packet
    assert packet.part2_program and packet.part2_notice == PART2_NOTICE
    assert packet.authorization is not None
    assert (packet.authorization.units_used, packet.authorization.units_left) == (7, 3)
    assert [s.phq9_total for s in packet.scores] == [19, 12]
    assert packet.cssrs[0].risk == "low"
    assert packet.latest_decision is not None
    assert packet.latest_decision.rationale == "Needs two more weeks for relapse plan"
    assert packet.recommendation is not None
    assert packet.recommendation.recommended_action == "continue"
    html = packet_html(packet)
    assert "42 CFR part 2" in html and "2.31" in html
    bundle = packet_bundle(packet, b"%PDF-1.7 test", at=d(21)).model_dump(mode="json")
    for entry in bundle["entry"]:
        codes = {s["code"] for s in entry["resource"]["meta"]["security"]}
        assert codes == {"R", "42CFRPart2"}


async def test_ur_downloads_from_the_workbench_audited(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_pool: asyncpg.Pool, packet_id: str
) -> None:
    if (reason := pdf_unavailable_reason()) is not None:
        pytest.skip(reason)
    reviewer = await add_account(
        wb_app, person(PersonRole.UTILIZATION_REVIEW, frozenset({PART2_PROGRAM}))
    )
    await sign_in(browser_client, reviewer)
    r = await browser_client.get(f"/app/utilization-review/packets/{EPISODE}.pdf")
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"%PDF-")
    audit = await api_pool.fetch(
        "SELECT actor, channel, format FROM review_packet_downloads WHERE packet_id = $1",
        packet_id,
    )
    assert [tuple(a) for a in audit] == [(reviewer.actor, "workbench", "pdf")]


async def test_others_may_not(wb_app: FastAPI, browser_client: httpx.AsyncClient) -> None:
    supervisor = await add_account(
        wb_app, person(PersonRole.SUPERVISOR, frozenset({PART2_PROGRAM}))
    )
    await sign_in(browser_client, supervisor)
    r = await browser_client.get(f"/app/utilization-review/packets/{EPISODE}.pdf")
    assert r.status_code == 403
