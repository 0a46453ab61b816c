"""Replays recorded histories: a change that would break running episodes fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.care_episode import CareEpisode

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
RECORDED = {path.name: path.read_text() for path in HISTORIES}


def test_histories_are_recorded() -> None:
    names = {path.name.split(".")[0] for path in HISTORIES}
    assert names >= {"happy_path", "safety_and_step_up", "denial_and_overdue", "long_episode"}
    assert any(".run1." in path.name for path in HISTORIES), "no continue-as-new run recorded"
    # Engine V2 (issue 14's safety timers) has a history of its own, recorded by V2: its
    # patch marker is there (the older histories have none).
    v2 = RECORDED["clinical_v2_safety.run0.json"]
    assert '"core_patch"' in v2
    assert '"core_patch"' not in RECORDED["happy_path.run0.json"]
    # The IOP week's exceptions (issue 10), recorded by engine V2.
    assert RECORDED["iop_week_attendance.run0.json"].count('"record_attendance"') == 6
    # Engine V3's live quality clocks (issue 13): IET and FUH, an attended session counting.
    v3 = RECORDED["quality_clocks_v3.run0.json"]
    assert '"core_patch"' in v3 and v3.count('"record_attendance"') == 1
    # Engine V4's default patient-message window (issue 14 item 16's tail), recorded by V4.
    v4 = RECORDED["message_window_v4.run0.json"]
    assert '"core_patch"' in v4 and v4.count('"submit_review"') == 2
    # Engine V4's age group from the records: asked at enrolment and after each review.
    teen = RECORDED["adolescent_v4.run0.json"]
    assert '"core_patch"' in teen and teen.count('"age_group_on"') == 3
    # Engine V5's rest: enrolment, then each review with its decision a minute later, on
    # a run of its own; every run but the last ends by continuing as new.
    rest = sorted(name for name in RECORDED if name.startswith("rest_v5."))
    assert len(rest) == 4
    for name in rest[:-1]:
        assert RECORDED[name].count("CONTINUED_AS_NEW") >= 1, name
    for name in rest[1:3]:
        run = RECORDED[name]
        assert run.count('"submit_review"') == 1 and run.count('"decide"') == 1, name


@pytest.mark.parametrize("path", HISTORIES, ids=[p.name for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("care-episode-replay", RECORDED[path.name])
    replayer = Replayer(workflows=[CareEpisode], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
