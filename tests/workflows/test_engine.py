"""The engine on its own (no Temporal): answers that arrive after the episode moved on."""

from __future__ import annotations

from datetime import UTC, date, datetime

from rules.levels import LevelOfCare
from rules.transitions import Action, CarePhase
from schemas.episode import Coverage, EpisodeStart, PatientRef
from schemas.payer import PayerAnswer, PayerRequestKind, PayerStatus
from schemas.submissions import EpisodeEvent, EpisodeEventKind
from workflows.engine import EpisodeEngine
from workflows.state import CommandKind, EpisodeState

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def fresh_engine() -> EpisodeEngine:
    start = EpisodeStart(
        episode_id="unit-1",
        program_id="p1",
        patient=PatientRef(patient_ref="MRN-UNIT"),
        coverage=Coverage(payer_id="SBX", member_id="M1"),
    )
    engine = EpisodeEngine(EpisodeState(start=start, started_at=NOW, updated_at=NOW))
    engine.begin(NOW)
    return engine


def test_payer_approval_after_withdrawal_is_recorded_not_applied() -> None:
    engine = fresh_engine()
    engine.state.phase = CarePhase.AUTHORIZATION
    engine.state.requested_level = LevelOfCare.IOP
    engine.state.coverage = engine.state.start.coverage
    engine._request_authorization(PayerRequestKind.INITIAL, LevelOfCare.IOP, False, NOW)
    [command] = engine.take_commands()
    assert command.kind is CommandKind.REQUEST_AUTHORIZATION

    engine.answer(
        Action.REPORT_EVENT,
        EpisodeEvent(event_id="e1", reported_by="ehr", kind=EpisodeEventKind.WITHDRAWN),
        NOW,
    )
    assert engine.state.phase is CarePhase.AFTERCARE

    late = PayerAnswer(
        reference="SBX-9",
        status=PayerStatus.APPROVED,
        units=20,
        start_date=date(2026, 3, 2),
        end_date=date(2026, 4, 1),
        authorization_number="AUTH-9",
    )
    engine.payer_answered(command, late, NOW)  # must not raise inside the workflow

    assert engine.state.phase is CarePhase.AFTERCARE
    assert engine.state.authorization is None
    templates = [n.template for n in engine.state.notifications]
    assert "payer_answer_not_applied" in templates
