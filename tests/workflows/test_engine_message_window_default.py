"""Issue 14 item 16's tail (engine V4): patient messages go out inside the local window by
default, the hours outside issue 12's quiet hours (08:00-21:00 in the program's zone);
V3 runs keep "unset: any hour", so their recorded timers stay as they were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rules.messaging import MessagingPolicy
from rules.policy import ProgramPolicy
from schemas.records import Recipient
from tests.workflows.engine_cases import Case
from workflows.state import ENGINE_V3, ENGINE_V4

LA = "America/Los_Angeles"
CHARTED = datetime(2026, 3, 3, 6, 30, tzinfo=UTC)  # 22:30 on 2 March in Los Angeles (PST)


def _enrolled_in_la(version: int, policy: ProgramPolicy | None = None) -> Case:
    case = Case.new(policy=policy or ProgramPolicy(time_zone=LA))
    case.state.engine_version = version
    case.now = CHARTED
    case.enrolled(days=30)
    return case


def _questionnaire_sent_by(case: Case, moment: datetime) -> bool:
    case.later(seconds=(moment - case.now).total_seconds())
    review = case.state.review
    assert review is not None
    return review.questionnaire_sent


@pytest.mark.parametrize(
    ("quiet", "window"),
    [((21, 8), (8.0, 21.0)), ((20, 9), (9.0, 20.0)), ((0, 6), (6.0, 24.0)), ((0, 0), None)],
)
def test_the_default_window_is_the_hours_outside_the_quiet_hours(
    quiet: tuple[int, int], window: tuple[float, float] | None
) -> None:
    start, end = quiet
    messaging = MessagingPolicy(quiet_hours_start=start, quiet_hours_end=end)
    assert ProgramPolicy(messaging=messaging).message_window() == window
    chosen = ProgramPolicy(messaging=messaging, patient_message_window_hours=(10, 12))
    assert chosen.message_window() == (10, 12), "a window the program sets wins"


def test_a_v4_review_charted_at_2230_sends_its_questionnaire_at_0800_next_morning() -> None:
    case = _enrolled_in_la(ENGINE_V4)
    review = case.state.review
    assert review is not None
    # Seven local days later, across the change to daylight time (8 March): 22:30 PDT.
    assert review.due == datetime(2026, 3, 10, 5, 30, tzinfo=UTC)
    eight_am = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 08:00 PDT on 10 March
    assert case.engine.next_wakeup() == eight_am
    assert not _questionnaire_sent_by(case, review.due + timedelta(minutes=1)), "not at 22:30"
    assert not _questionnaire_sent_by(case, eight_am - timedelta(minutes=1))
    assert _questionnaire_sent_by(case, eight_am)
    [ask] = [n for n in case.state.notifications if n.params.get("questionnaire")]
    assert ask.recipient is Recipient.PATIENT


def test_a_v4_message_queued_at_night_waits_for_eight_local() -> None:
    case = _enrolled_in_la(ENGINE_V4)  # enrolled at 22:30 local: "enrolled" to the patient
    batch = case.engine.take_batch("run-1", case.now)
    assert batch is not None
    patient = [n for n in batch.notifications if n.recipient is Recipient.PATIENT]
    staff = [n for n in batch.notifications if n.recipient is not Recipient.PATIENT]
    assert patient and staff
    assert {n.not_before for n in patient} == {datetime(2026, 3, 3, 16, 0, tzinfo=UTC)}
    assert {n.not_before for n in staff} == {None}, "the care team is told at once"


def test_a_v3_run_keeps_any_hour_when_the_window_is_unset() -> None:
    case = _enrolled_in_la(ENGINE_V3)
    batch = case.engine.take_batch("run-1", case.now)
    assert batch is not None and {n.not_before for n in batch.notifications} == {None}
    review = case.state.review
    assert review is not None and case.engine.next_wakeup() == review.due
    assert _questionnaire_sent_by(case, review.due), "at 22:30 local, as V3 recorded it"


def test_any_hour_stays_available_to_a_program_that_wants_it() -> None:
    case = _enrolled_in_la(
        ENGINE_V4, ProgramPolicy(time_zone=LA, patient_message_window_hours=(0, 24))
    )
    review = case.state.review
    assert review is not None and case.engine.next_wakeup() == review.due
