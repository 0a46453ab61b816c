"""Engine tests without Temporal: build an episode, drive it through `EpisodeEngine.answer`
exactly as the workflow's update handlers do, and play the payer's answers by hand."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from rules.levels import LevelOfCare
from rules.payer_deadlines import PlanType
from rules.policy import ProgramPolicy
from rules.transitions import Action, CarePhase
from schemas.episode import Consents, Coverage, EpisodeStart, PatientRef
from schemas.payer import AuthRequirement, EligibilityResult, PayerAnswer, PayerStatus
from schemas.submissions import (
    AssessmentSubmission,
    AuthorizationDecision,
    AuthorizationKind,
    ClinicianDecision,
    CoverageSubmission,
    DecisionAction,
    EpisodeEvent,
    EpisodeEventKind,
    LevelDetermination,
    ReviewSubmission,
)
from schemas.view import EngineDecision
from tests.workflows.clinic import phq9
from workflows.engine import EpisodeEngine
from workflows.state import ENGINE_LATEST, Command, CommandKind, EpisodeState

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def next_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


@dataclass
class Case:
    """One episode under the engine, with a clock the test moves."""

    engine: EpisodeEngine
    now: datetime = T0

    @classmethod
    def new(
        cls,
        *,
        policy: ProgramPolicy | None = None,
        payer_disclosure: bool = True,
        coverage: bool = True,
        plan_type: PlanType | None = None,
        **start_fields: Any,
    ) -> Case:
        start = EpisodeStart(
            episode_id=next_id("case"),
            program_id="p1",
            patient=PatientRef(patient_ref="MRN-UNIT"),
            coverage=Coverage(payer_id="SBX", member_id="M1", plan_type=plan_type)
            if coverage
            else None,
            consents=Consents(payer_disclosure=payer_disclosure),
            policy=policy or ProgramPolicy(),
            **start_fields,
        )
        state = EpisodeState(
            start=start, started_at=T0, updated_at=T0, engine_version=ENGINE_LATEST
        )
        engine = EpisodeEngine(state)
        engine.begin(T0)
        return cls(engine)

    @property
    def state(self) -> EpisodeState:
        return self.engine.state

    def later(self, **delta: float) -> None:
        """Move the clock and fire whatever fell due, as the workflow's timer would."""
        target = self.now + timedelta(**delta)
        while True:
            wake = self.engine.next_wakeup()
            if wake is None or wake > target:
                break
            self.now = max(self.now, wake)
            self.engine.on_timer(self.now)
        self.now = target

    def submit(self, action: Action, submission: BaseModel) -> EngineDecision:
        self.engine.validate(action, submission)
        return self.engine.answer(action, submission, self.now)

    def commands(self) -> list[Command]:
        return self.engine.take_commands()

    def templates(self) -> list[str]:
        return [n.template for n in self.state.notifications]

    # ------------------------------------------------------------ the path

    def assess(self, level: LevelOfCare = LevelOfCare.IOP, total: int = 16) -> EngineDecision:
        return self.submit(
            Action.SUBMIT_ASSESSMENT,
            AssessmentSubmission(
                assessment_id=next_id("asmt"),
                clinician_id="clin-1",
                phq9=phq9(total),
                determination=LevelDetermination(
                    instrument="LOCUS", level=level, rationale="synthetic"
                ),
            ),
        )

    def eligible(self, *, auth: bool = True) -> list[Command]:
        """Answer the pending eligibility check; returns the payer commands it queued."""
        [check] = self.commands()
        assert check.kind is CommandKind.CHECK_ELIGIBILITY
        requirement = AuthRequirement.REQUIRED if auth else AuthRequirement.NOT_REQUIRED
        self.engine.eligibility_checked(
            EligibilityResult(active=True, authorization=requirement, checked_at=self.now),
            self.now,
        )
        return self.commands()

    def payer(
        self, command: Command, status: PayerStatus = PayerStatus.PENDING, **terms: Any
    ) -> None:
        self.engine.payer_answered(
            command, PayerAnswer(reference=f"SBX-{command.seq}", status=status, **terms), self.now
        )

    def approval(
        self, units: int = 20, level: LevelOfCare | None = None, days: int = 30, **fields: Any
    ) -> AuthorizationDecision:
        today = self.now.date()
        return AuthorizationDecision(
            decision_id=next_id("auth"),
            recorded_by="ur-1",
            kind=fields.pop("kind", AuthorizationKind.APPROVED),
            level=level,
            units=units,
            start_date=fields.pop("start_date", today),
            end_date=fields.pop("end_date", today + timedelta(days=days)),
            authorization_number=fields.pop("authorization_number", next_id("AUTH")),
            **fields,
        )

    def record(self, decision: AuthorizationDecision) -> EngineDecision:
        return self.submit(Action.RECORD_AUTHORIZATION, decision)

    def enrolled(self, units: int = 20, days: int = 30) -> None:
        """Assessed, eligible, requested, pending, approved by UR: in treatment at IOP."""
        self.assess()
        [request] = self.eligible()
        self.payer(request)
        self.record(self.approval(units=units, days=days))
        assert self.state.phase is CarePhase.IN_TREATMENT

    def review(
        self, total: int | None = 12, *, units: int = 3, hours: float = 10, **kw: Any
    ) -> EngineDecision:
        return self.submit(
            Action.SUBMIT_REVIEW,
            ReviewSubmission(
                review_id=kw.pop("review_id", next_id("rev")),
                clinician_id="clin-1",
                phq9=phq9(total, kw.pop("item9", 0)) if total is not None else None,
                hours_attended=hours,
                units_attended=units,
                **kw,
            ),
        )

    def decide(
        self, action: DecisionAction, target: LevelOfCare | None = None, **kw: Any
    ) -> EngineDecision:
        return self.submit(
            Action.DECIDE,
            ClinicianDecision(
                decision_id=kw.pop("decision_id", next_id("dec")),
                clinician_id="clin-1",
                action=action,
                target_level=target,
                **kw,
            ),
        )

    def event(self, kind: EpisodeEventKind, **kw: Any) -> EngineDecision:
        return self.submit(
            Action.REPORT_EVENT,
            EpisodeEvent(event_id=next_id("evt"), reported_by="ehr-1", kind=kind, **kw),
        )

    def coverage(self, *, self_pay: bool = False, member_id: str | None = None) -> EngineDecision:
        return self.submit(
            Action.SUBMIT_COVERAGE,
            CoverageSubmission(
                submission_id=next_id("cov"),
                recorded_by="fc-1",
                self_pay=self_pay,
                coverage=Coverage(payer_id="SBX", member_id=member_id) if member_id else None,
            ),
        )


def today_plus(case: Case, days: int) -> date:
    return case.now.date() + timedelta(days=days)
