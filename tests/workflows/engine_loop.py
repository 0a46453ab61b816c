"""The workflow's loop played without Temporal, for the scenarios' rules.

`LoopCase` is an engine `Case` whose payer commands are answered by the sandbox payer and
whose effects are written to the in-memory store (and its outbox), each step as `CareEpisode`'s
run loop takes it: a submission is validated and answered, then queued commands run and
the step's batch is recorded; the clock moves by firing each deadline as it falls due.
What stays on Temporal (tests/workflows/test_happy_path.py, test_long_episode.py,
test_payer_race.py, test_search_attributes.py, the refusals in test_reviews.py and
test_submission_conflicts.py, tests/replay) is the loop itself: durable timers,
activities and their retries, updates racing activities, continue-as-new, replay.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.exceptions import ApplicationError

from activities.payer_sandbox import SandboxPayer
from rules.levels import AgeGroup, LevelOfCare
from rules.policy import ProgramPolicy
from rules.transitions import Action
from schemas.episode import Consents, Coverage, EpisodeStart, PatientRef
from schemas.records import NotificationRequest
from schemas.submissions import (
    AssessmentSubmission,
    AuthorizationKind,
    CssrsScreen,
    EpisodeEventKind,
    LevelDetermination,
    ReviewSubmission,
    SafetyAssessment,
)
from schemas.view import EngineDecision, EpisodeView
from tests.workflows.clinic import Adapters, phq9
from tests.workflows.engine_cases import T0, Case, next_id
from workflows import payer_requests
from workflows.engine import EpisodeEngine
from workflows.state import ENGINE_LATEST, Command, CommandKind, EpisodeState

T = TypeVar("T")
RUN_ID = "engine-loop-run"


def completed(step: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never waits, as the in-memory adapters never do."""
    try:
        step.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    step.close()
    raise AssertionError("an in-memory adapter waited; this harness runs only those that don't")


@dataclass
class LoopCase(Case):
    """One episode under the engine with the workflow's loop played by hand."""

    adapters: Adapters = field(default_factory=Adapters)
    # Authorization requests kept back until `release()` (a payer slower than the staff).
    hold_authorizations: bool = False
    held: list[Command] = field(default_factory=list)

    @classmethod
    def admit(
        cls,
        *,
        member_id: str = "M123456",
        age_group: AgeGroup = AgeGroup.ADULT,
        policy: ProgramPolicy | None = None,
        coverage: bool = True,
        payer_disclosure_consent: bool = True,
        payer: SandboxPayer | None = None,
        hold_authorizations: bool = False,
        **start_fields: Any,
    ) -> LoopCase:
        """As `Clinic.admit` starts a workflow: the same start, engine version and first step."""
        start = EpisodeStart(
            episode_id=next_id("loop"),
            program_id="iop-adult-east",
            age_group=age_group,
            patient=PatientRef(patient_ref="MRN-SYNTH-1", name="Synthetic Patient"),
            coverage=Coverage(payer_id="SANDBOX", member_id=member_id) if coverage else None,
            consents=Consents(payer_disclosure=payer_disclosure_consent),
            policy=policy or ProgramPolicy(),
            **start_fields,
        )
        state = EpisodeState(
            start=start, started_at=T0, updated_at=T0, engine_version=ENGINE_LATEST
        )
        engine = EpisodeEngine(state)
        case = cls(engine, hold_authorizations=hold_authorizations)
        case.adapters = Adapters(payer=payer or SandboxPayer(clock=lambda: case.now))
        case.adapters.patients.register(start)  # the patients table, as the API writes it
        engine.begin(T0)
        case.drain()
        return case

    # ------------------------------------------------------------ the loop

    def submit(self, action: Action, submission: Any) -> EngineDecision:
        decision = super().submit(action, submission)
        self.drain()
        return decision

    def later(self, **delta: float) -> None:
        """Move the clock, firing each deadline when it falls due and running its step."""
        target = self.now + timedelta(**delta)
        while True:
            self.drain()
            wake = self.engine.next_wakeup()
            if wake is None or wake > target:
                break
            self.now = max(self.now, wake)
            self.engine.on_timer(self.now)
        self.now = target

    def drain(self) -> None:
        """Run the queued payer commands, then record the step's batch (`CareEpisode._drain`)."""
        while self.state.commands:
            for command in self.engine.take_commands():
                if self.hold_authorizations and command.kind is CommandKind.REQUEST_AUTHORIZATION:
                    self.held.append(command)
                else:
                    self._run(command)
        batch = self.engine.take_batch(RUN_ID)
        if batch is not None:
            completed(self.adapters.activities().record_effects(batch))

    def release(self) -> None:
        """The held authorization requests reach the payer now; their answers are applied."""
        held, self.held = self.held, []
        for command in held:
            self._run(command)
        self.drain()

    def _run(self, command: Command) -> None:
        """One command, as `CareEpisode._run_command` runs it (the same requests)."""
        activities = self.adapters.activities()
        if command.kind is CommandKind.CHECK_AGE_GROUP:
            group = completed(activities.age_group_on(self.engine.age_group_check(self.now)))
            self.engine.age_group_checked(group, self.now)
            return
        if command.kind is CommandKind.CHECK_ELIGIBILITY:
            request = payer_requests.eligibility_request(self.engine, command)
            try:
                result = completed(activities.check_eligibility(request))
            except ApplicationError as refused:
                self.engine.eligibility_failed(
                    retryable=refused.type != "PayerDataError", now=self.now
                )
                return
            except Exception:  # an outage: the activity's retries ran out
                self.engine.eligibility_failed(retryable=True, now=self.now)
                return
            self.engine.eligibility_checked(result, self.now)
            return
        answer = completed(
            activities.request_authorization(
                payer_requests.authorization_request(self.engine, command)
            )
        )
        self.engine.payer_answered(command, answer, self.now)

    # ------------------------------------------------------------ what callers see

    def view(self) -> EpisodeView:
        """The `state` query's answer."""
        return self.engine.view(self.now)

    @property
    def outcome(self) -> str | None:
        """The workflow's result: the outcome once the episode is closed, else None."""
        return self.state.outcome if self.engine.closed else None

    def sent(self, recipient: str | None = None) -> list[str]:
        """Templates delivered so far (to `recipient`), in order."""
        return self.adapters.outbox.templates(self.engine.episode_id, recipient)

    def messages(self) -> list[NotificationRequest]:
        return self.adapters.outbox.for_episode(self.engine.episode_id)

    def reasons(self) -> list[str]:
        """The recorded transitions' reasons, in order."""
        return [r for (_, _, r) in self.adapters.store.transitions(self.engine.workflow_id)]

    # ------------------------------------------------------------ the people (as `Clinic`)

    def wait(self, days: float = 0, hours: float = 0) -> None:
        self.later(days=days, hours=hours)

    def until_review(self, days: float = 7) -> None:
        """Two hours before the next review falls due, as `Clinic.until_review`."""
        self.later(days=days, hours=-2)

    def assess(
        self,
        level: LevelOfCare = LevelOfCare.IOP,
        total: int = 18,
        *,
        item9: int = 0,
        cssrs: list[bool] | None = None,
        await_return: bool = True,
        evaluated: bool = False,
    ) -> EngineDecision:
        return self.submit(
            Action.SUBMIT_ASSESSMENT,
            AssessmentSubmission(
                assessment_id=next_id("asmt"),
                clinician_id="clin-1",
                phq9=phq9(total, item9),
                cssrs=CssrsScreen(answers=cssrs) if cssrs else None,
                determination=LevelDetermination(
                    instrument="LOCUS", level=level, rationale="synthetic determination"
                ),
                await_return_if_referred_out=await_return,
                safety_assessment=SafetyAssessment(
                    instrument="emergency_evaluation", result="high", plan="admit to inpatient"
                )
                if evaluated
                else None,
            ),
        )

    def review(
        self,
        total: int | None = 12,
        *,
        units: int = 3,
        hours: float = 10,
        item9: int = 0,
        cssrs: list[bool] | None = None,
        review_id: str | None = None,
        **kw: Any,
    ) -> EngineDecision:
        return self.submit(
            Action.SUBMIT_REVIEW,
            ReviewSubmission(
                review_id=review_id or next_id("rev"),
                clinician_id="clin-1",
                phq9=phq9(total, item9) if total is not None else None,
                cssrs=CssrsScreen(answers=cssrs) if cssrs else None,
                hours_attended=hours,
                units_attended=units,
                **kw,
            ),
        )

    def approve(
        self, units: int = 20, level: LevelOfCare | None = None, days: int = 60
    ) -> EngineDecision:
        return self.record(self.approval(units=units, level=level, days=days))

    def approve_appeal(self, units: int = 20) -> EngineDecision:
        return self.record(
            self.approval(units=units, days=60, kind=AuthorizationKind.APPEAL_APPROVED)
        )

    def visit(self, days_after: int = 0, kind: str = "outpatient") -> EngineDecision:
        """A follow-up visit dated `days_after` today."""
        return self.event(
            EpisodeEventKind.FOLLOWUP_VISIT,
            visit_date=self.now.date() + timedelta(days=days_after),
            visit_kind=kind,
        )

    def enrolled(self, units: int = 20, days: int = 60) -> None:
        """Assessed (PHQ-9 16), eligible, then approved by UR an hour later: at IOP."""
        self.assess(LevelOfCare.IOP, total=16)
        self.wait(hours=1)
        self.approve(units=units, days=days)
