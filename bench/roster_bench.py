"""Roster benchmark: one call records a 12-person roster (all attended), timed over HTTP.

Runs inside the API bench (same dev server, PostgreSQL and uvicorn). Also counts the
notices those rosters send the workflows: a week attended as scheduled should send none,
which is what keeps `actions_per_iop_week_4_sessions` at the IOP week's own cost.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

ADMIN = {"Authorization": "Bearer bench-admin"}
SEATS = 12


async def measure_rosters(
    http: httpx.AsyncClient, program: str, episode_ids: list[str], *, rosters: int = 50
) -> dict[str, float]:
    """`episode_ids`: SEATS episodes already in treatment at IOP, in `program`."""
    assert len(episode_ids) == SEATS
    group_id = f"bench-grp-{uuid.uuid4().hex[:8]}"
    group = {
        "group_id": group_id,
        "program_id": program,
        "name": "bench",
        "level": "iop",
        "weekdays": [1, 2, 3, 4],
        "start_time": "09:00",
        "duration_minutes": 180,
        "capacity": SEATS,
        "facilitator_ref": "fac-bench",
    }
    (await http.post("/v1/groups", json=group, headers=ADMIN)).raise_for_status()
    for episode_id in episode_ids:
        seat = await http.post(
            f"/v1/groups/{group_id}/assignments", json={"episode_id": episode_id}
        )
        seat.raise_for_status()
    now = datetime.now(UTC)
    sessions = []
    for n in range(rosters):
        body = {
            "session_id": f"{group_id}.adhoc{n}",
            "starts_at": (now - timedelta(hours=1, minutes=n)).isoformat(),
            "duration_minutes": 180,
        }
        added = await http.post(f"/v1/groups/{group_id}/sessions", json=body, headers=ADMIN)
        added.raise_for_status()
        sessions.append(body["session_id"])
    roster = {
        "recorded_by": "clin-bench",
        "entries": [{"episode_id": e, "status": "attended"} for e in episode_ids],
    }
    rtts: list[float] = []
    notices = 0
    for session_id in sessions:
        began = time.perf_counter()
        answer = await http.post(f"/v1/sessions/{session_id}/roster", json=roster)
        rtts.append((time.perf_counter() - began) * 1000)
        answer.raise_for_status()
        notices += answer.json()["notices_sent"]
    cuts = statistics.quantiles(rtts, n=100)
    return {
        "roster_rtt_p50_ms": statistics.median(rtts),
        "roster_rtt_p99_ms": cuts[98],
        # Notices (one workflow update each) per patient per 4 attended sessions.
        "iop_notices_per_patient_4_sessions": notices * 4 / (SEATS * rosters),
    }


async def enrolled(http: httpx.AsyncClient, episode_ids: list[str]) -> None:
    """Assess each episode at IOP and wait (bounded) until eligibility enrolled it."""
    for n, episode_id in enumerate(episode_ids):
        assessment = {
            "assessment_id": f"bench-roster-asm-{n}",
            "clinician_id": "clin-bench",
            "phq9": {"items": [2, 2, 2, 2, 2, 2, 2, 2, 0]},
            "determination": {"instrument": "LOCUS", "level": "iop", "rationale": "bench"},
        }
        for _ in range(5):  # a loaded machine may answer 503; the same ID again is a retry
            answer = await http.post(f"/v1/episodes/{episode_id}/assessment", json=assessment)
            if answer.status_code < 500:
                break
            await asyncio.sleep(1)
        answer.raise_for_status()
    for episode_id in episode_ids:
        for _ in range(200):
            state = (await http.get(f"/v1/episodes/{episode_id}")).json()
            if state["phase"] == "in_treatment":
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("an episode for the roster bench never enrolled")
