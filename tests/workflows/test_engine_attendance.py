"""The engine's side of the IOP week, without Temporal: each exception's effects, the
follow-up timer, and engine V1 runs refusing attendance (their commands stay as they were)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from rules.recommendation import Flag
from rules.transitions import Action
from schemas.attendance import AttendanceNotice, AttendanceNoticeKind
from tests.workflows.engine_cases import Case, next_id
from workflows.engine_core import InvalidSubmission
from workflows.state import ENGINE_V1

K = AttendanceNoticeKind


def notice(kind: AttendanceNoticeKind, **fields: object) -> AttendanceNotice:
    return AttendanceNotice.model_validate(
        {
            "notice_id": next_id("n"),
            "kind": kind,
            "recorded_by": "clin-1",
            "session_id": "grp-1.20260302",
            "session_date": date(2026, 3, 2),
            **fields,
        }
    )


def enrolled() -> Case:
    case = Case.new()
    case.enrolled()
    case.templates()  # drained
    return case


def test_a_no_show_messages_the_patient_and_opens_a_follow_up_with_a_timer() -> None:
    case = enrolled()
    before = case.engine.next_wakeup()
    case.submit(Action.RECORD_ATTENDANCE, notice(K.NO_SHOW, consecutive_no_shows=1, absences=1))
    assert Flag.NO_SHOW_FOLLOWUP in case.state.flags
    assert Flag.DISENGAGED not in case.state.flags
    due = case.state.attendance.no_show_followup_due if case.state.attendance else None
    assert due == case.now + timedelta(hours=24)
    wake = case.engine.next_wakeup()
    assert wake is not None and wake <= due and (before is None or wake <= before)
    case.later(hours=25)
    case.engine.on_timer(case.now)
    assert any(n.template == "no_show_followup_missed" for n in case.state.notifications)


def test_two_in_a_row_disengage_and_m_absences_recommend_a_level_review() -> None:
    case = enrolled()
    case.submit(
        Action.RECORD_ATTENDANCE,
        notice(K.NO_SHOW, consecutive_no_shows=2, absences=4, level_review_after=4),
    )
    assert {Flag.DISENGAGED, Flag.LEVEL_REVIEW_RECOMMENDED} <= set(case.state.flags)
    supervisor = [n for n in case.state.notifications if n.recipient.value == "supervisor"]
    assert [n.template for n in supervisor] == ["disengaged"]
    case.submit(Action.RECORD_ATTENDANCE, notice(K.RESUMED))
    assert Flag.DISENGAGED not in case.state.flags
    assert case.state.attendance is not None and case.state.attendance.no_show_followup_due is None


def test_below_minimum_is_flagged_for_the_rest_of_the_week_only() -> None:
    case = enrolled()
    case.submit(
        Action.RECORD_ATTENDANCE,
        notice(
            K.BELOW_MINIMUM,
            week_start=case.now.date(),
            week_hours=5,
            week_hours_possible=3,
            week_minimum=9,
        ),
    )
    assert Flag.BELOW_MINIMUM in case.state.flags
    case.later(days=7)
    case.engine.on_timer(case.now)
    assert Flag.BELOW_MINIMUM not in case.state.flags


def test_a_run_pinned_to_engine_v1_refuses_attendance() -> None:
    case = enrolled()
    case.state.engine_version = ENGINE_V1
    with pytest.raises(InvalidSubmission, match="engine version"):
        case.engine.validate(Action.RECORD_ATTENDANCE, notice(K.NO_SHOW))
