"""Concurrent-review packets end to end: the engine opens a concurrent review (units
running out), the records writer assembles the packet from PostgreSQL, UR downloads it
as PDF and FHIR, and every download is audited; without consent nothing is assembled."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from api.reports.pdf import pdf_unavailable_reason
from tests.api import bodies
from tests.api.conftest import bearer
from tests.api.test_api_iop_week import Week, clock, iop, week  # noqa: F401  (fixtures)

UR = bearer("tok-ur")
CARE = bearer("tok-care")


async def _packet_rows(pool: asyncpg.Pool, episode_id: str) -> list[asyncpg.Record]:
    for _ in range(300):
        rows = await pool.fetch("SELECT * FROM review_packets WHERE episode_id = $1", episode_id)
        if rows:
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError("no review packet was written")


async def _open_concurrent_review(week: Week) -> None:  # noqa: F811
    await week.start(authorized_units=8)
    for day in range(5):  # the fifth attended day opens the concurrent review
        await week.roster(day, "attended")


@pytest.fixture
def _no_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Episodes started without the patient's consent to disclose to the payer (the
    test bodies carry it by default)."""
    plain = bodies.episode

    def without(*args: Any, **kwargs: Any) -> dict[str, Any]:
        body = plain(*args, **kwargs)
        body["consents"] = {"payer_disclosure": False}
        return body

    monkeypatch.setattr(bodies, "episode", without)


async def test_packet_assembled_listed_downloaded_and_audited(
    week: Week,  # noqa: F811
    api_pool: asyncpg.Pool,
) -> None:
    await _open_concurrent_review(week)
    [row] = await _packet_rows(api_pool, week.episode_id)
    assert row["status"] == "assembled"
    assert row["authorization_id"] is not None  # attached to the payer request's row
    packet = json.loads(row["content"])
    assert packet["delivered_level"] == "iop"
    assert packet["authorization"]["units_approved"] == 8
    weeks = packet["attendance_by_week"]
    assert [w["sessions_attended"] for w in weeks] == [4, 1]
    assert sum(w["hours_attended"] for w in weeks) == 15.0
    assert packet["part2_notice"] is None
    assert packet["scores"][0]["phq9_total"] is not None  # the assessment's PHQ-9
    # Who the patient is, from the patients table (not Temporal): the minimum a payer's
    # reviewer needs, without the clinic's MRN.
    assert packet["patient"] == {
        "patient_ref": None, "name": "Synthetic Patient", "birth_date": None,
        "member_id": "M-WAITS-FOR-UR",
    }  # fmt: skip
    assert set(packet) == {
        "packet_id", "episode_id", "program_id", "requested_at", "part2_program",
        "part2_notice", "patient", "delivered_level", "authorized_level", "level_since",
        "episode_started_at", "authorization", "attendance_by_week", "scores", "cssrs",
        "latest_decision", "recommendation",
    }  # fmt: skip

    api: httpx.AsyncClient = week.api
    await _episode_fhir(api, week.episode_id)
    listed = await api.get(f"/v1/episodes/{week.episode_id}/review-packets", headers=UR)
    assert listed.status_code == 200, listed.text
    [summary] = listed.json()
    packet_id = summary["packet_id"]
    assert summary["status"] == "assembled"
    assert (await api.get(f"/v1/review-packets/{packet_id}", headers=CARE)).status_code == 403
    if (reason := pdf_unavailable_reason()) is not None:
        pytest.skip(reason)
    pdf = await api.get(
        f"/v1/review-packets/{packet_id}", headers={**UR, "Accept": "application/pdf"}
    )
    assert pdf.status_code == 200, pdf.text
    assert pdf.content.startswith(b"%PDF-")
    fhir = await api.get(
        f"/v1/review-packets/{packet_id}", headers={**UR, "Accept": "application/fhir+json"}
    )
    assert fhir.status_code == 200, fhir.text
    bundle = fhir.json()
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert {"Patient", "EpisodeOfCare", "Coverage", "Observation", "DocumentReference"} <= set(
        kinds
    )
    by_kind = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    assert by_kind["Patient"]["name"] == [{"text": "Synthetic Patient"}]
    assert "identifier" not in by_kind["Patient"]  # no MRN for the payer
    assert by_kind["Coverage"]["subscriberId"] == "M-WAITS-FOR-UR"
    assert (await api.get(
        f"/v1/review-packets/{packet_id}", headers={**UR, "Accept": "text/html"}
    )).status_code == 406  # fmt: skip
    audit = await api_pool.fetch(
        "SELECT actor, role, channel, format FROM review_packet_downloads WHERE packet_id = $1"
        " ORDER BY id",
        packet_id,
    )
    assert [tuple(a) for a in audit] == [
        ("ur-3", "utilization-review", "api", "pdf"),
        ("ur-3", "utilization-review", "api", "fhir"),
    ]


@pytest.mark.usefixtures("_no_consent")
async def test_without_consent_nothing_is_assembled(
    week: Week,  # noqa: F811
    api_pool: asyncpg.Pool,
) -> None:
    await _open_concurrent_review(week)
    [row] = await _packet_rows(api_pool, week.episode_id)
    assert (row["status"], row["content"]) == ("withheld_no_consent", None)
    r = await week.api.get(f"/v1/review-packets/{row['packet_id']}", headers=UR)
    assert r.status_code == 409
    assert r.json()["type"].endswith("packet-withheld")
    downloads = await api_pool.fetchval(
        "SELECT count(*) FROM review_packet_downloads WHERE packet_id = $1", row["packet_id"]
    )
    assert downloads == 0


async def _episode_fhir(api: httpx.AsyncClient, episode_id: str) -> None:
    """GET /v1/episodes/{id}/fhir on the same episode: its sessions as Encounters."""
    r = await api.get(f"/v1/episodes/{episode_id}/fhir", headers=CARE)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    bundle = r.json()
    urls = {e["fullUrl"] for e in bundle["entry"]}
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Encounter") == 5
    assert kinds.count("EpisodeOfCare") == 1
    assert "QuestionnaireResponse" in kinds and "CarePlan" in kinds
    refs = [
        e["resource"]["episodeOfCare"][0]["reference"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Encounter"
    ]
    assert set(refs) <= urls
    other = await api.get(f"/v1/episodes/{episode_id}/fhir", headers=bearer("tok-care-other"))
    assert other.status_code == 404
    assert (await api.get(f"/v1/episodes/{episode_id}/fhir", headers=UR)).status_code == 403
    assert (await api.get("/v1/episodes/no-such-episode/fhir", headers=CARE)).status_code == 404
