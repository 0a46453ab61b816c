"""Plain engine cases (no Temporal): a V2 episode driven by submissions and timers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy
from rules.transitions import Action
from schemas.episode import Coverage, EpisodeStart, PatientRef
from schemas.payer import AuthRequirement, EligibilityResult
from schemas.records import NotificationRequest, Recipient
from schemas.submissions import (
    AssessmentSubmission,
    ClinicianDecision,
    CssrsScreen,
    DecisionAction,
    EpisodeEvent,
    EpisodeEventKind,
    LevelDetermination,
    ReviewSubmission,
    SafetyAssessment,
)
from schemas.view import EngineDecision
from tests.workflows.clinic import phq9
from workflows.engine import EpisodeEngine
from workflows.state import ENGINE_V2, EpisodeState

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
MODERATE_CSSRS = [True, True, True, False, False, False]
HIGH_CSSRS = [True, True, True, True, False, False]
ASSESSED = SafetyAssessment(
    instrument="C-SSRS", result="low", plan="Safety plan reviewed; follow up tomorrow"
)
_ids = itertools.count(1)


def new_engine(
    policy: ProgramPolicy | None = None, *, coverage: bool = True, version: int = ENGINE_V2
) -> EpisodeEngine:
    start = EpisodeStart(
        episode_id=f"case-{next(_ids)}",
        program_id="p1",
        patient=PatientRef(patient_ref="MRN-CASE"),
        coverage=Coverage(payer_id="SBX", member_id="M1") if coverage else None,
        policy=policy or ProgramPolicy(),
    )
    state = EpisodeState(start=start, started_at=NOW, updated_at=NOW, engine_version=version)
    engine = EpisodeEngine(state)
    engine.begin(NOW)
    return engine


def assess(
    engine: EpisodeEngine,
    level: LevelOfCare = LevelOfCare.IOP,
    *,
    total: int = 16,
    item9: int = 0,
    cssrs: list[bool] | None = None,
    safety: SafetyAssessment | None = None,
    at: datetime = NOW,
) -> EngineDecision:
    sub = AssessmentSubmission(
        assessment_id=f"a-{next(_ids)}",
        clinician_id="clin-1",
        phq9=phq9(total, item9),
        cssrs=CssrsScreen(answers=cssrs) if cssrs else None,
        determination=LevelDetermination(instrument="LOCUS", level=level, rationale="case"),
        safety_assessment=safety,
    )
    return engine.answer(Action.SUBMIT_ASSESSMENT, sub, at)


def enrolled(
    policy: ProgramPolicy | None = None, *, total: int = 16, version: int = ENGINE_V2
) -> EpisodeEngine:
    """In treatment at IOP (the payer needs no authorization), at NOW."""
    engine = new_engine(policy, version=version)
    assess(engine, total=total)
    engine.take_commands()
    engine.eligibility_checked(
        EligibilityResult(active=True, authorization=AuthRequirement.NOT_REQUIRED, checked_at=NOW),
        NOW,
    )
    return engine


def review(
    engine: EpisodeEngine,
    total: int | None,
    *,
    item9: int = 0,
    cssrs: list[bool] | None = None,
    hours: float = 10,
    at: datetime = NOW,
) -> EngineDecision:
    sub = ReviewSubmission(
        review_id=f"r-{next(_ids)}",
        clinician_id="clin-1",
        phq9=phq9(total, item9) if total is not None else None,
        cssrs=CssrsScreen(answers=cssrs) if cssrs else None,
        hours_attended=hours,
        units_attended=3,
    )
    return engine.answer(Action.SUBMIT_REVIEW, sub, at)


def decide(
    engine: EpisodeEngine,
    action: DecisionAction,
    target: LevelOfCare | None = None,
    *,
    override_reason: str | None = None,
    safety: SafetyAssessment | None = None,
    at: datetime = NOW,
) -> EngineDecision:
    sub = ClinicianDecision(
        decision_id=f"d-{next(_ids)}",
        clinician_id="clin-1",
        action=action,
        target_level=target,
        override_reason=override_reason,
        safety_assessment=safety,
    )
    return engine.answer(Action.DECIDE, sub, at)


def event(
    engine: EpisodeEngine, kind: EpisodeEventKind, at: datetime = NOW, **fields: object
) -> EngineDecision:
    sub = EpisodeEvent.model_validate(
        {"event_id": f"e-{next(_ids)}", "reported_by": "ehr-1", "kind": kind, **fields}
    )
    return engine.answer(Action.REPORT_EVENT, sub, at)


def sent(
    engine: EpisodeEngine, template: str, recipient: Recipient | None = None
) -> list[NotificationRequest]:
    """Queued messages with `template` (and recipient), oldest first."""
    return [
        n
        for n in engine.state.notifications
        if n.template == template and (recipient is None or n.recipient is recipient)
    ]


def run_timers(engine: EpisodeEngine, until: datetime) -> list[datetime]:
    """Fire every deadline up to `until`, as the workflow's loop would; the moments fired."""
    fired: list[datetime] = []
    for _ in range(1000):
        wake = engine.next_wakeup()
        if wake is None or wake > until:
            return fired
        engine.on_timer(wake)
        fired.append(wake)
    raise AssertionError("deadlines never settled")
