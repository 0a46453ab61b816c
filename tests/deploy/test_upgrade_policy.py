"""The deploy policy (deploy/README.md, "Upgrades"), checked: a run is pinned to the engine
version it started with and moves to the newest only at continue-as-new, through one
patch marker; the replay check runs histories the previous release recorded."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from rules.levels import LevelOfCare
from schemas.submissions import DecisionAction
from tests.workflows.clinic import Clinic, chain_histories, running_worker
from workflows.care_episode import engine_patch
from workflows.state import ENGINE_LATEST

ENGINE_LATEST_PATCH = engine_patch(ENGINE_LATEST)

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = sorted((ROOT / "tests" / "replay" / "histories").glob("*.json"))


def patch_markers(history_json: str) -> set[str]:
    """Patch IDs recorded in a history (core's `core_patch` markers)."""
    found: set[str] = set()
    for event in json.loads(history_json)["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker.get("markerName") == "core_patch":
            payloads = marker.get("details", {}).get("patch-data", {}).get("payloads", [])
            found |= {json.loads(_decode(p["data"])).get("id", "") for p in payloads}
    return found


def _decode(data: str) -> str:
    import base64

    return base64.b64decode(data).decode()


def test_replayed_histories_include_the_previous_release() -> None:
    """The CI replay check (tests/replay) runs histories recorded before the newest engine:
    at least one was recorded without its patch marker, as the previous release wrote it."""
    assert HISTORIES
    previous = [
        p.name for p in HISTORIES if ENGINE_LATEST_PATCH not in patch_markers(p.read_text())
    ]
    assert previous, f"no history from before {ENGINE_LATEST_PATCH}: record the old release's"
    assert any(".run1." in name for name in previous), "a continue-as-new chain of the old release"


async def test_new_runs_and_every_continued_run_carry_the_newest_engine(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue, member_id="NOAUTH-UP", history_event_limit=60)
        await clinic.assess(LevelOfCare.IOP, total=16)
        for week in range(8):
            await clinic.until_review()
            await clinic.review(14 - week % 3)
            await clinic.decide(DecisionAction.CONTINUE)
        runs = await chain_histories(clinic)
    assert len(runs) >= 2, "the episode should have continued as new"
    for history in runs:
        assert isinstance(history, WorkflowHistory)
        assert ENGINE_LATEST_PATCH in patch_markers(history.to_json()), history.run_id


def test_runbook_states_the_policy_in_force() -> None:
    text = (ROOT / "deploy" / "README.md").read_text()
    assert f"ENGINE_V{ENGINE_LATEST}" in text and ENGINE_LATEST_PATCH in text
    assert "tests/replay" in text and "Worker Versioning" in text
