"""Issue 10: a no-show recorded while Temporal is down reaches the episode's engine as soon
as Temporal is back, by the API's background retry, with no further roster.

The real stack (`tests/faults/harness.py`): the dev server is stopped (SIGTERM) while the
roster is recorded in PostgreSQL, then started again on its SQLite file.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.faults.clinic import admit, bounded, enrolled, view
from tests.faults.harness import PROGRAM, FaultStack, fault_stack

pytestmark = pytest.mark.devserver


@pytest.fixture(scope="module")
async def faults() -> AsyncIterator[FaultStack]:
    root = Path(tempfile.mkdtemp(prefix="carepath-notice-retry-"))
    try:
        async with fault_stack(root) as stack:
            yield stack
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_a_no_show_recorded_while_temporal_is_down_is_taken_when_it_is_back(
    faults: FaultStack,
) -> None:
    async with httpx.AsyncClient(timeout=30.0) as http:
        episode = await admit(faults, http)
        await enrolled(faults, http, episode)
        group_id = f"grp-{uuid.uuid4().hex[:8]}"
        group = {
            "group_id": group_id,
            "program_id": PROGRAM,
            "name": "Skills",
            "level": "iop",
            "weekdays": [1, 2, 3, 4, 5],
            "start_time": "09:00",
            "duration_minutes": 180,
            "capacity": 12,
            "facilitator_ref": "fac-1",
        }
        made = await faults.call(http, "POST", "/v1/groups", role="clinic-system", body=group)
        assert made.status == 201, made
        session_id = f"s-{uuid.uuid4().hex[:8]}"
        started = datetime.now(UTC) - timedelta(minutes=20)  # under way: seated in time
        session = {
            "session_id": session_id,
            "starts_at": started.isoformat(),
            "duration_minutes": 60,
        }
        added = await faults.call(
            http, "POST", f"/v1/groups/{group_id}/sessions", role="clinic-system", body=session
        )
        assert added.status == 201, added
        seated = await faults.call(
            http,
            "POST",
            f"/v1/groups/{group_id}/assignments",
            role="care-team",
            body={"episode_id": episode.episode_id},
        )
        assert seated.status == 201, seated

        faults.stop_temporal()
        roster = {
            "recorded_by": "dev-care-team",
            "entries": [{"episode_id": episode.episode_id, "status": "no_show"}],
        }
        recorded = await faults.call(
            http, "POST", f"/v1/sessions/{session_id}/roster", role="care-team", body=roster
        )
        assert recorded.status == 200, recorded
        # Nothing sent while Temporal is down; the no-show's notice (and, inside the patient's
        # messaging window, the patient's same-day notice) waits.
        assert recorded.body["notices_sent"] == 0
        assert recorded.body["notices_pending"] >= 1

        faults.start_temporal_again()
        await faults.temporal_listening()
        pool = await faults.pool()
        try:

            async def taken() -> list[str]:
                outcomes = await pool.fetch(
                    "SELECT outcome FROM attendance_notices WHERE episode_id = $1",
                    episode.episode_id,
                )
                seen = [row["outcome"] for row in outcomes]
                return [] if "taken" in seen else [f"notices still {seen or 'pending'}"]

            await bounded(taken, "the pending no-show notice", attempts=1800)
        finally:
            await pool.close()
        flags = (await view(faults, http, episode))["flags"]
        assert "no_show_followup" in flags
