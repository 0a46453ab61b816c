"""Record CareEpisode histories from synthetic scenarios, for the replay test.

Run `python -m tests.replay.record_histories [scenario ...]` after a deliberate, versioned
change to the workflow (use `workflow.patched` for running episodes), and commit the JSON
it writes. Name the new scenarios only: the histories of older engines stay as recorded.
Synthetic patients only: nothing here is real health information.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from config.tuning import REST_AFTER_EVENTS
from rules import localtime
from rules.levels import AgeGroup, LevelOfCare
from rules.policy import ProgramPolicy
from schemas.attendance import AttendanceNotice
from schemas.submissions import DecisionAction, EpisodeEventKind
from tests.workflows.clinic import Clinic, chain_histories, running_worker
from worker.registration import register_search_attributes
from workflows.care_episode import CareEpisode

HISTORIES = Path(__file__).parent / "histories"


async def happy_path(clinic: Clinic) -> None:
    await clinic.assess(LevelOfCare.IOP, total=18)
    await clinic.wait(hours=1)
    await clinic.approve(units=20)
    for score in (16, 13, 9, 7):
        await clinic.until_review()
        await clinic.review(score)
    await clinic.decide(DecisionAction.STEP_DOWN, LevelOfCare.OP)
    for score in (5, 4):
        await clinic.until_review(28)
        await clinic.review(score, hours=2, units=1)
    await clinic.decide(DecisionAction.DISCHARGE)
    await clinic.wait(days=91)


async def safety_and_step_up(clinic: Clinic) -> None:
    await clinic.assess(LevelOfCare.IOP, total=16)
    await clinic.wait(hours=1)
    await clinic.approve()
    await clinic.until_review()
    await clinic.review(12, item9=1)
    await clinic.decide(DecisionAction.STEP_UP, LevelOfCare.PHP, expedited=True)
    # Not exactly an hour: engine V3 escalates the unacknowledged risk alert at +1 h, and
    # the Java test server can stall an update landing in the same instant as a timer.
    await clinic.wait(hours=1.25)
    await clinic.approve(units=10, level=LevelOfCare.PHP)
    await clinic.until_review()
    await clinic.review(10, hours=12)
    await clinic.decide(DecisionAction.STEP_UP, LevelOfCare.INPATIENT, override_reason="ED eval")
    await clinic.event(EpisodeEventKind.DISCHARGED, LevelOfCare.IOP)
    await clinic.wait(hours=1)
    await clinic.approve(units=12)
    await clinic.event(EpisodeEventKind.WITHDRAWN)
    await clinic.wait(days=91)


async def denial_and_overdue(clinic: Clinic) -> None:
    await clinic.assess(LevelOfCare.IOP, total=15)
    await clinic.wait(hours=1)
    await clinic.approve_appeal()
    await clinic.wait(days=11)
    await clinic.review(14)
    await clinic.event(EpisodeEventKind.ENTERED_IN_ERROR)


async def long_episode(clinic: Clinic) -> None:
    await clinic.assess(LevelOfCare.IOP, total=18)
    await clinic.wait(hours=1)
    await clinic.approve(units=100, days=200)
    for week in range(20):
        await clinic.until_review()
        await clinic.review(14 + week % 3)
    await clinic.event(EpisodeEventKind.ENTERED_IN_ERROR)


async def clinical_v2_safety(clinic: Clinic) -> None:
    """Engine V2's safety path: intake hold, evaluation, escalation ladder, FUH visit."""
    high = [True, True, True, True, False, False]
    await clinic.assess(LevelOfCare.IOP, total=17, cssrs=high)
    await clinic.assess(LevelOfCare.IOP, total=17, cssrs=high, evaluated=True)
    await clinic.wait(hours=1)
    await clinic.approve(units=20)
    await clinic.until_review()
    await clinic.review(12, item9=1)
    await clinic.wait(days=1)
    await clinic.decide(
        DecisionAction.CONTINUE, override_reason="C-SSRS full scale: low risk; safety plan"
    )
    await clinic.until_review()
    await clinic.review(14, cssrs=[True, True, True, False, False, False])
    await clinic.decide(DecisionAction.STEP_UP, LevelOfCare.INPATIENT)
    await clinic.event(EpisodeEventKind.ADMITTED)
    await clinic.wait(days=5)
    await clinic.event(EpisodeEventKind.DISCHARGED)
    await clinic.wait(days=2)
    await clinic.visit(kind="outpatient")
    await clinic.wait(days=91)


async def iop_week_attendance(clinic: Clinic) -> None:
    """Engine V2's IOP week: every kind of attendance exception, and the follow-up timer."""
    await clinic.assess(LevelOfCare.IOP, total=16)
    await clinic.wait(hours=1)
    await clinic.approve(units=6)
    today = (await clinic.env.get_current_time()).date()
    notices: list[dict[str, object]] = [
        {"kind": "no_show", "consecutive_no_shows": 1, "absences": 1},
        {"kind": "no_show", "consecutive_no_shows": 2, "absences": 2},
        {"kind": "below_minimum", "week_start": today, "week_hours": 0, "week_minimum": 9},
        {"kind": "resumed"},
        {"kind": "units_running_out", "units_used": 3, "units_left": 3},
        {"kind": "unauthorized_service"},
    ]
    for n, fields in enumerate(notices):
        await clinic.handle.execute_update(
            CareEpisode.record_attendance,
            AttendanceNotice.model_validate(
                {
                    "notice_id": f"notice-{n}",
                    "recorded_by": "clin-1",
                    "session_id": f"grp-1.s{n}",
                    "session_date": today,
                    **fields,
                }
            ),
        )
        await clinic.wait(hours=26 if n == 0 else 2)
    await clinic.wait(days=8)
    await clinic.event(EpisodeEventKind.ENTERED_IN_ERROR)


async def quality_clocks_v3(clinic: Clinic) -> None:
    """Engine V3's live quality clocks: IET from the start of a substance-use episode,
    FUH after an inpatient stay, a visit and an attended session counting, the alert at
    the lead time and the missed windows on their timers."""
    await clinic.assess(LevelOfCare.INPATIENT, total=24)
    await clinic.wait(days=1)
    await clinic.visit(kind="outpatient")  # IET initiation met; engagement opens
    await clinic.event(EpisodeEventKind.ADMITTED)
    await clinic.wait(days=3)
    await clinic.event(EpisodeEventKind.DISCHARGED, LevelOfCare.OP)
    await clinic.wait(days=2)
    today = (await clinic.env.get_current_time()).date()
    await clinic.handle.execute_update(
        CareEpisode.record_attendance,
        AttendanceNotice.model_validate(
            {
                "notice_id": "at.grp-1.s1",
                "kind": "attended",
                "recorded_by": "clin-1",
                "session_id": "grp-1.s1",
                "session_date": today,
            }
        ),
    )
    await clinic.wait(days=40)
    await clinic.event(EpisodeEventKind.ENTERED_IN_ERROR)


LOS_ANGELES = "America/Los_Angeles"


async def until_local(clinic: Clinic, hour: int, minute: int, tz: str) -> None:
    """Sleep to the next `hour:minute` on the local clock of `tz`."""
    now = await clinic.env.get_current_time()
    day = localtime.local_date(now, tz)
    while True:
        moment = datetime.combine(day, time(hour, minute), localtime.zone(tz)).astimezone(UTC)
        if moment > now + timedelta(minutes=5):
            await clinic.env.sleep(moment - now)
            return
        day += timedelta(days=1)


async def message_window_v4(clinic: Clinic) -> None:
    """Engine V4's default patient-message window (no window set, Los Angeles): a review
    charted at 22:30 local, its next questionnaire timed to 08:00 local after the due, an
    immediate patient message at night held for the window."""
    await clinic.assess(LevelOfCare.IOP, total=16)
    await clinic.wait(hours=1)
    await clinic.approve(units=20)
    await until_local(clinic, 22, 30, LOS_ANGELES)
    await clinic.review(14)
    await clinic.wait(days=8)
    await clinic.review(12)
    await clinic.decide(DecisionAction.STEP_DOWN, LevelOfCare.OP)
    await clinic.wait(days=2)
    await clinic.event(EpisodeEventKind.ENTERED_IN_ERROR)


async def adolescent_v4(clinic: Clinic) -> None:
    """Engine V4's age group from the records: an adolescent whose 18th birthday (kept in the
    records, not the start) falls in the second week; asked at enrolment and each review."""
    await clinic.assess(LevelOfCare.IOP, total=16)
    await clinic.wait(hours=1)
    await clinic.approve(units=30)
    for _ in range(3):
        await clinic.until_review()
        await clinic.review(12, hours=7)
    await clinic.event(EpisodeEventKind.ENTERED_IN_ERROR)


async def rest_v5(clinic: Clinic) -> None:
    """Engine V5's rest: enrolled, the run comes to rest and continues as new; a review and
    its decision a minute apart land on one run, which continues after it settles."""
    await clinic.assess(LevelOfCare.IOP, total=16)
    await clinic.wait(hours=1)
    await clinic.approve(units=30)
    for score in (14, 12):
        await clinic.until_review()
        await clinic.review(score)
        await clinic.wait(hours=1 / 60)
        await clinic.decide(DecisionAction.CONTINUE)
    await clinic.wait(hours=1)
    await clinic.event(EpisodeEventKind.ENTERED_IN_ERROR)


SCENARIOS: dict[str, tuple[str, int, Callable[[Clinic], Awaitable[None]]]] = {
    "happy_path": ("M100", 1000, happy_path),
    "safety_and_step_up": ("M200", 1000, safety_and_step_up),
    "denial_and_overdue": ("DENY-300", 1000, denial_and_overdue),
    "long_episode": ("M400", 120, long_episode),
    "clinical_v2_safety": ("M500", 1000, clinical_v2_safety),
    "iop_week_attendance": ("M600", 1000, iop_week_attendance),
    "quality_clocks_v3": ("M700", 1000, quality_clocks_v3),
    "message_window_v4": ("M800", 1000, message_window_v4),
    "adolescent_v4": ("M900", 1000, adolescent_v4),
    "rest_v5": ("M1000", 1000, rest_v5),
}
# Engine V5's rest at a low threshold, so the scenario's few weeks show several runs.
REST_AFTER = {"rest_v5": 20}
# Scenarios that need a program policy of their own.
POLICIES: dict[str, ProgramPolicy] = {
    "quality_clocks_v3": ProgramPolicy(substance_use_program=True),
    "message_window_v4": ProgramPolicy(time_zone=LOS_ANGELES),
}
# Scenarios whose start needs fields of its own, from the server's date at the start.
START_FIELDS: dict[str, Callable[[date], dict[str, Any]]] = {
    "adolescent_v4": lambda today: {
        "age_group": AgeGroup.ADOLESCENT,
        "adult_on": today + timedelta(days=10),
    },
}


def fields(name: str, today: date) -> dict[str, Any]:
    make = START_FIELDS.get(name)
    return make(today) if make else {}


async def record(names: list[str]) -> None:
    """Record the named scenarios (all when none are named); never rewrite the others."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=shutil.which("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env.client)
    HISTORIES.mkdir(exist_ok=True)
    try:
        async with running_worker(env) as (queue, _):
            for name, (member, limit, scenario) in SCENARIOS.items():
                if names and name not in names:
                    continue
                clinic = await Clinic.admit(
                    env,
                    queue,
                    member_id=member,
                    history_event_limit=limit,
                    policy=POLICIES.get(name),
                    rest_after_events=REST_AFTER.get(name, REST_AFTER_EVENTS),
                    **fields(name, (await env.get_current_time()).date()),
                )
                await scenario(clinic)
                histories = await chain_histories(clinic)
                for index, history in enumerate(reversed(histories)):
                    (HISTORIES / f"{name}.run{index}.json").write_text(history.to_json())
                print(f"{name}: {len(histories)} run(s)")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
