"""Issue 14 item 16 (engine V3): authorization days are the program's local days, and
patient messages go out inside a local window (by default), immediate ones included."""

from __future__ import annotations

from datetime import UTC, date, datetime

from rules import authorization as auth_rules
from rules.policy import ProgramPolicy
from rules.recommendation import Flag
from schemas.records import Recipient
from tests.workflows.engine_cases import Case
from workflows.state import ENGINE_V2

LA = "America/Los_Angeles"


def test_the_expiry_warning_opens_at_local_midnight_not_utcs() -> None:
    policy = ProgramPolicy(time_zone=LA)
    end = date(2026, 3, 30)  # warning 3 days before: local start of 27 March (PDT, UTC-7)
    assert auth_rules.concurrent_review_due_at(end, policy, LA) == datetime(
        2026, 3, 27, 7, 0, tzinfo=UTC
    )
    assert auth_rules.concurrent_review_due_at(end, policy) == datetime(
        2026, 3, 27, 0, 0, tzinfo=UTC
    ), "UTC stays as it was for older runs"


def _enrolled_in_la(at: datetime, *, version: int | None = None) -> Case:
    case = Case.new(policy=ProgramPolicy(time_zone=LA, patient_message_window_hours=(9, 20)))
    if version is not None:
        case.state.engine_version = version
    case.now = at
    case.enrolled(days=30)
    return case


def test_a_v3_extension_is_asked_for_on_the_local_day_the_warning_opens() -> None:
    # Enrolled 2 March 17:00 Los Angeles; approval to 2 April: the warning opens at the
    # local start of 30 March = 07:00 UTC (PDT).
    case = _enrolled_in_la(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    end = case.state.authorization.end_date if case.state.authorization else None
    assert end == date(2026, 4, 2)
    opens = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    case.later(seconds=(opens - case.now).total_seconds() - 60)
    assert Flag.AUTHORIZATION_LOW not in case.state.flags, "still 29 March in Los Angeles"
    assert not [c for c in case.commands() if c.payer_kind and c.payer_kind.value != "initial"]
    case.later(seconds=60)
    assert Flag.AUTHORIZATION_LOW in case.state.flags


def test_a_v2_run_keeps_utc_days() -> None:
    case = _enrolled_in_la(datetime(2026, 3, 3, 1, 0, tzinfo=UTC), version=ENGINE_V2)
    case.later(seconds=(datetime(2026, 3, 30, 0, 0, tzinfo=UTC) - case.now).total_seconds())
    assert Flag.AUTHORIZATION_LOW in case.state.flags


def test_an_immediate_patient_message_at_night_waits_for_the_local_window() -> None:
    late = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)  # 22:00 on 2 March in Los Angeles
    case = _enrolled_in_la(late)
    batch = case.engine.take_batch("run-1", case.now)
    assert batch is not None
    patient = [n for n in batch.notifications if n.recipient is Recipient.PATIENT]
    staff = [n for n in batch.notifications if n.recipient is not Recipient.PATIENT]
    assert patient and staff
    nine_am = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)  # 09:00 PST
    assert {n.not_before for n in patient} == {nine_am}
    assert {n.not_before for n in staff} == {None}, "the care team is told at once"


def test_in_the_window_and_in_older_runs_nothing_is_held() -> None:
    day = _enrolled_in_la(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))  # noon in Los Angeles
    batch = day.engine.take_batch("run-1", day.now)
    assert batch is not None and {n.not_before for n in batch.notifications} == {None}
    old = _enrolled_in_la(datetime(2026, 3, 3, 6, 0, tzinfo=UTC), version=ENGINE_V2)
    batch = old.engine.take_batch("run-1", old.now)
    assert batch is not None and {n.not_before for n in batch.notifications} == {None}


def test_a_late_evening_review_sends_its_questionnaire_next_morning() -> None:
    charted = datetime(2026, 3, 3, 6, 30, tzinfo=UTC)  # 22:30 Los Angeles
    case = _enrolled_in_la(charted)
    review = case.state.review
    assert review is not None
    assert review.due == datetime(2026, 3, 10, 5, 30, tzinfo=UTC)  # 22:30 local, after DST
    case.later(seconds=(review.due - case.now).total_seconds() + 60)
    assert not review.questionnaire_sent, "not at 22:30 local"
    nine_am = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # 09:00 PDT on 10 March
    case.later(seconds=(nine_am - case.now).total_seconds() - 60)
    assert not review.questionnaire_sent
    case.later(seconds=60)
    assert review.questionnaire_sent
    [ask] = [n for n in case.state.notifications if n.params.get("questionnaire")]
    assert ask.recipient is Recipient.PATIENT
