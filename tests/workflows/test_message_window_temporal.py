"""Issue 14 item 16's tail on the time-skipping server (engine V4): with no window set, a
review charted at 22:30 local sends the next questionnaire at 08:00 the local morning after
it falls due, on the right side of a change to daylight time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from temporalio.testing import WorkflowEnvironment

from rules import localtime
from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy
from schemas.records import Recipient
from tests.workflows.clinic import Adapters, Clinic, running_worker

LA = "America/Los_Angeles"


def _next_spring_forward(after: date) -> date:
    """The first local day after `after` whose noon is an hour nearer UTC than the day
    before's (the change to daylight time in Los Angeles)."""
    tz = localtime.zone(LA)
    day = after
    for _ in range(400):
        day += timedelta(days=1)
        today = datetime.combine(day, time(12), tz).utcoffset()
        yesterday = datetime.combine(day - timedelta(days=1), time(12), tz).utcoffset()
        assert today is not None and yesterday is not None
        if today > yesterday:
            return day
    raise AssertionError("no change to daylight time within a year")


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), localtime.zone(LA)).astimezone(UTC)


def _questionnaires(adapters: Adapters) -> int:
    return sum(
        1
        for m in adapters.outbox.messages.values()
        if m.notification.recipient is Recipient.PATIENT
        and m.notification.params.get("questionnaire")
    )


async def _until(clinic: Clinic, moment: datetime) -> None:
    now = await clinic.env.get_current_time()
    assert moment > now
    await clinic.env.sleep(moment - now)


async def test_a_late_review_sends_its_questionnaire_at_eight_the_next_local_morning(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(
            ts_env, queue, member_id="NOAUTH-WINDOW", policy=ProgramPolicy(time_zone=LA)
        )
        await clinic.assess(LevelOfCare.IOP, total=16)
        today = localtime.local_date(await ts_env.get_current_time(), LA)
        change = _next_spring_forward(today + timedelta(days=7))
        charted = _local(change - timedelta(days=5), 22, 30)  # in standard time
        await _until(clinic, charted)
        await clinic.review(14)
        state = await clinic.state()
        due = _local(change + timedelta(days=2), 22, 30)  # seven local days: daylight time
        assert state.next_review_due is not None
        assert abs(state.next_review_due - due) < timedelta(seconds=5), "charted to the second"
        assert due - charted == timedelta(days=7, hours=-1)
        asked = _questionnaires(adapters)
        await _until(clinic, due + timedelta(minutes=10))
        assert _questionnaires(adapters) == asked, "nothing to the patient at 22:30 local"
        eight = _local(change + timedelta(days=3), 8)
        await _until(clinic, eight - timedelta(minutes=10))
        assert _questionnaires(adapters) == asked, "nor before 08:00 local"
        await _until(clinic, eight + timedelta(minutes=10))
        assert _questionnaires(adapters) == asked + 1
        [sent] = [
            m
            for m in adapters.outbox.messages.values()
            if m.notification.params.get("questionnaire")
            and m.notification.recipient is Recipient.PATIENT
        ][-1:]
        assert sent.notification.not_before is None, "timed into the window, not held"
