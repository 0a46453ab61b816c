"""Issue 14 item 16: days are the program's local calendar days, not UTC's."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from rules import localtime
from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy
from rules.schedule import aftercare_checkins, next_review_due, questionnaire_at

LA = "America/Los_Angeles"


def test_an_authorization_lapses_at_local_midnight_after_its_end_date() -> None:
    # Ending Monday 2026-03-02 in Los Angeles: covered through the Monday evening group.
    lapses = localtime.local_midnight_after(date(2026, 3, 2), LA)
    assert lapses == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    assert localtime.local_midnight_after(date(2026, 3, 2), "UTC") == datetime(
        2026, 3, 3, tzinfo=UTC
    )


def test_the_local_date_is_not_the_utc_date_in_the_evening() -> None:
    evening = datetime(2026, 3, 3, 5, 30, tzinfo=UTC)  # 21:30 on the 2nd in LA
    assert localtime.local_date(evening, LA) == date(2026, 3, 2)
    assert localtime.end_of_local_day(evening, LA) == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def test_a_review_a_week_later_keeps_the_local_hour_across_dst() -> None:
    la = ProgramPolicy(time_zone=LA)
    charted = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)  # Friday 10:00 PST
    due = next_review_due(charted, LevelOfCare.IOP, la)
    assert due == datetime(2026, 3, 13, 17, 0, tzinfo=UTC)  # Friday 10:00 PDT
    assert next_review_due(charted, LevelOfCare.IOP, ProgramPolicy()) == datetime(
        2026, 3, 13, 18, 0, tzinfo=UTC
    )


def test_patient_messages_wait_for_the_local_window() -> None:
    la = ProgramPolicy(time_zone=LA, patient_message_window_hours=(9, 20))
    late = datetime(2026, 3, 3, 7, 30, tzinfo=UTC)  # 23:30 on the 2nd in LA
    assert questionnaire_at(late, la) == datetime(2026, 3, 3, 17, 0, tzinfo=UTC)  # 09:00
    inside = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)  # 12:00
    assert questionnaire_at(inside, la) == inside
    early = datetime(2026, 3, 3, 12, 45, tzinfo=UTC)  # 04:45 local
    assert questionnaire_at(early, la) == datetime(2026, 3, 3, 17, 0, tzinfo=UTC)


def test_aftercare_check_ins_land_inside_the_window_on_local_days() -> None:
    la = ProgramPolicy(time_zone=LA, patient_message_window_hours=(9, 20))
    discharged = datetime(2026, 3, 3, 8, 45, tzinfo=UTC)  # 00:45 local
    first = aftercare_checkins(discharged, la)[0]
    assert first == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # 09:00 PDT, 7 local days on


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown IANA time zone"):
        localtime.zone("Mars/Olympus_Mons")
