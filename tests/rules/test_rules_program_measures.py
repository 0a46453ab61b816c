"""How episodes ended, days per level, step-ups after step-downs, FUH, IET, quartiles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from rules.levels import LevelOfCare as L
from rules.outcome_policy import OutcomePolicy
from rules.outcomes import MeasureStatus as M
from rules.program_measures import (
    EndKind,
    Move,
    days_per_level,
    end_kind,
    fuh,
    iet,
    spread,
    step_downs,
)
from rules.transitions import CarePhase as P
from rules.transitions import Event

POLICY = OutcomePolicy()
T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
D0 = T0.date()


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def test_end_kinds() -> None:
    assert end_kind(Event.DISCHARGE, P.IN_TREATMENT) is EndKind.COMPLETED
    assert end_kind(Event.WITHDRAWN, P.IN_TREATMENT) is EndKind.AGAINST_ADVICE
    assert end_kind(Event.REFERRAL_CLOSED, P.EXTERNAL_CARE) is EndKind.STEPPED_UP
    assert end_kind(Event.REFERRAL_CLOSED, P.REFERRAL) is EndKind.REFERRED_OUT
    assert end_kind(Event.ASSESSED_EXTERNAL_CLOSE, P.ASSESSMENT) is EndKind.REFERRED_OUT
    assert end_kind(Event.ENTERED_IN_ERROR, P.IN_TREATMENT) is EndKind.ENTERED_IN_ERROR
    assert end_kind(Event.APPEAL_UPHELD, P.APPEAL) is EndKind.NOT_ADMITTED


def test_days_per_level_until_discharge() -> None:
    moves = [
        Move(at(0), P.AUTHORIZATION, None),
        Move(at(2), P.IN_TREATMENT, L.IOP),
        Move(at(30), P.IN_TREATMENT, L.OP),
        Move(at(44), P.AFTERCARE, None),
        Move(at(80), P.CLOSED, None),
    ]
    assert days_per_level(moves, at(100)) == {L.IOP: 28.0, L.OP: 14.0}
    # An open episode counts up to `until`.
    assert days_per_level(moves[:3], at(31)) == {L.IOP: 28.0, L.OP: 1.0}
    # External care is not a program stay.
    external = [Move(at(0), P.IN_TREATMENT, L.IOP), Move(at(5), P.EXTERNAL_CARE, L.INPATIENT)]
    assert days_per_level(external, at(20)) == {L.IOP: 5.0}


def test_step_up_within_30_days_of_a_step_down() -> None:
    moves = [
        Move(at(0), P.IN_TREATMENT, L.PHP),
        Move(at(10), P.IN_TREATMENT, L.IOP),  # step-down
        Move(at(40), P.IN_TREATMENT, L.PHP),  # 30 days later: counts
        Move(at(50), P.IN_TREATMENT, L.IOP),  # step-down
        Move(at(81), P.IN_TREATMENT, L.PHP),  # 31 days later: does not
    ]
    assert step_downs(moves, at(200), POLICY) == [(at(10), M.MET), (at(50), M.NOT_MET)]
    # Within the 30 days of a recent step-down, no step-up yet: pending.
    assert step_downs(moves[:2], at(40), POLICY) == [(at(10), M.PENDING)]
    assert step_downs(moves[:2], at(40.5), POLICY) == [(at(10), M.NOT_MET)]
    same_level = [Move(at(0), P.IN_TREATMENT, L.IOP), Move(at(3), P.IN_TREATMENT, L.IOP)]
    assert step_downs(same_level, at(90), POLICY) == []


@pytest.mark.parametrize(
    ("visit_day", "short", "long"),
    [
        (0, M.NOT_MET, M.NOT_MET),  # the day of discharge does not count
        (1, M.MET, M.MET),
        (7, M.MET, M.MET),
        (8, M.NOT_MET, M.MET),
        (30, M.NOT_MET, M.MET),
        (31, M.NOT_MET, M.NOT_MET),
    ],
)
def test_fuh_window_edges(visit_day: int, short: M, long: M) -> None:
    as_of = D0 + timedelta(days=60)
    visits = [D0 + timedelta(days=visit_day)]
    assert fuh(D0, visits, 7, as_of) is short
    assert fuh(D0, visits, 30, as_of) is long


def test_fuh_open_window_is_pending() -> None:
    assert fuh(D0, [], 7, D0 + timedelta(days=7)) is M.PENDING
    assert fuh(D0, [], 7, D0 + timedelta(days=8)) is M.NOT_MET


def d(days: int) -> date:
    return D0 + timedelta(days=days)


def test_iet_initiation_and_engagement() -> None:
    late = d(200)
    assert iet(D0, [d(14), d(20), d(48)], late, POLICY) == (M.MET, M.MET)  # 48 = 14 + 34
    assert iet(D0, [d(14), d(20), d(49)], late, POLICY) == (M.MET, M.NOT_MET)
    assert iet(D0, [d(15), d(16), d(17)], late, POLICY) == (M.NOT_MET, M.NOT_MET)
    assert iet(D0, [d(0), d(0), d(3)], late, POLICY) == (M.MET, M.NOT_MET)  # same day twice
    assert iet(D0, [], d(14), POLICY) == (M.PENDING, M.PENDING)
    assert iet(D0, [d(2)], d(20), POLICY) == (M.MET, M.PENDING)


def test_spread() -> None:
    assert spread([]).median is None
    assert spread([4.0]).q1 == 4.0
    result = spread([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (result.n, result.q1, result.median, result.q3) == (5, 2.0, 3.0, 4.0)
