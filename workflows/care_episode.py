"""`CareEpisode`: one patient's episode of care as one long-running workflow.

Thin on purpose. Update handlers ask the engine for a decision and return it at once
(no activity on the caller's path); the main loop then runs the queued payer
commands and writes the queued records and messages in one activity, waits on a
durable timer for the next deadline, and continues as new before history grows large.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final, TypeAlias

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

# Names from modules, never `from workflows import module`: that form imports the module
# again inside the sandbox for every workflow instance (every cold episode).
with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from activities.care import CareActivities
    from activities.ports import PayerDataError
    from rules.transitions import Action, TransitionNotAllowed
    from schemas.attendance import AttendanceNotice
    from schemas.episode import Coverage
    from schemas.submissions import (
        AlertAcknowledgement,
        AssessmentSubmission,
        AuthorizationDecision,
        ClinicianDecision,
        CoverageSubmission,
        EpisodeEvent,
        PatientMeasureSubmission,
        ReviewSubmission,
    )
    from schemas.view import EngineDecision, EpisodeView
    from workflows.engine import EpisodeEngine, InvalidSubmission, SubmissionConflict
    from workflows.payer_requests import authorization_request, eligibility_request
    from workflows.search_attributes import publishable
    from workflows.state import (
        ENGINE_V3,
        ENGINE_V4,
        ENGINE_V5,
        ENGINE_VERSIONS,
        Command,
        CommandKind,
        EpisodeInput,
        EpisodeResult,
        EpisodeState,
    )


# Engine V5's rest point: a run continues as new once it holds its input's
# `rest_after_events` events and nothing has happened for its `rest_settle_seconds`, so a
# clinic's burst of calls (a review, then its decision) lands on one run, not on a run
# that is closing (Temporal answers those "workflow is closing"). Both are carried from
# run to run: a start may choose them without changing a running episode's commands.


def engine_patch(version: int) -> str:
    """The patch marker a run started on a worker with engine `version` carries."""
    return f"engine-v{version}"


# Records must never be lost: retry for as long as it takes (PostgreSQL may be down).
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=[ValidationError.__name__],
)
# The payer gets a few tries; then the episode waits for a person instead.
PAYER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=5,
    non_retryable_error_types=[PayerDataError.__name__, ValidationError.__name__],
)

# A look-up in the records the episode can do without for a while (the age group): a few
# tries, then the engine keeps what it has and asks again later.
LOOKUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=5,
    non_retryable_error_types=[ValidationError.__name__],
)


@workflow.defn(name="CareEpisode")
class CareEpisode:
    @workflow.init
    def __init__(self, episode: EpisodeInput) -> None:
        now = workflow.now()
        state = episode.state or EpisodeState(start=episode.start, started_at=now, updated_at=now)
        if episode.state is not None:
            state.run_count += 1
        for version in ENGINE_VERSIONS:
            # Pinned per run: a new run records the newest marker and stops there; a
            # history recorded by an older worker replays with the marker it carries
            # (or none, for version 1) and keeps that version.
            if workflow.patched(engine_patch(version)):
                state.engine_version = max(state.engine_version, version)
                break
        self._engine = EpisodeEngine(state)
        if episode.state is None:
            # Here, not in run(): an update in the first task is handled before run starts.
            self._engine.begin(now)
        self._history_limit = episode.history_event_limit
        self._rest_settle = timedelta(seconds=episode.rest_settle_seconds)
        self._rest_after_events = episode.rest_after_events
        self._published: dict[str, object] = {}
        self._details = ""

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, episode: EpisodeInput) -> EpisodeResult:
        engine = self._engine
        if episode.state is not None:
            await self._drop_carried_patient()
        while True:
            await self._drain()
            if engine.closed:
                break
            if self._history_is_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._drain()
                if not engine.closed:
                    self._continue_as_new()
                continue
            now = workflow.now()
            wake = engine.next_wakeup()
            if wake is not None and wake <= now:
                engine.on_timer(now)
                continue
            resting = self._at_rest(now, wake)
            if resting:
                timeout: timedelta | None = self._rest_settle
            else:
                timeout = None if wake is None else max(wake - now, timedelta(seconds=1))
            try:
                await workflow.wait_condition(
                    engine.has_effects,
                    timeout=timeout,
                    timeout_summary="settle, then continue as new" if resting else "next deadline",
                )
            except TimeoutError:
                if resting and workflow.all_handlers_finished():
                    self._continue_as_new()
                engine.on_timer(workflow.now())
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._drain()
        s = engine.state
        return EpisodeResult(
            episode_id=engine.episode_id, outcome=s.outcome, closed_at=s.closed_at, runs=s.run_count
        )

    async def _drop_carried_patient(self) -> None:
        """Engine V3: a run whose carried start still holds the patient (recorded before the
        patients table) stores it in PostgreSQL and keeps only the opaque key, so its next
        run's input holds no patient data; engine V4 does the same for a start that still
        names the 18th birthday (`adult_on`) or the payer member ID, and drops that member ID
        from the carried coverage too when it is the start's (the payer activity then reads
        it from the records). Older engines keep their recorded commands."""
        s = self._engine.state
        if s.engine_version < ENGINE_V3:
            return
        v4 = s.engine_version >= ENGINE_V4
        birthday = v4 and s.start.adult_on is not None
        carried = s.start.coverage
        member = v4 and carried is not None and carried.member_id is not None
        if not (s.start.carries_patient_data() or birthday or member):
            return
        key = await workflow.execute_activity_method(
            CareActivities.keep_patient,
            s.start,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORD_RETRY,
            summary="keep the patient in PostgreSQL",
        )
        if key is not None:
            # V3 kept the birthday in its start (its timer reads it); V4 asks the records.
            kept = s.start.adult_on if not v4 else None
            s.start = s.start.for_engine(key).model_copy(update={"adult_on": kept})
            if v4 and s.coverage_ref is None:
                s.coverage = _without_start_member(s.coverage, carried)

    def _continue_as_new(self) -> None:
        """The next run starts from the state as it stands (raises: the run ends here)."""
        workflow.continue_as_new(
            EpisodeInput(
                start=self._engine.state.start,
                state=self._engine.state,
                history_event_limit=self._history_limit,
                rest_settle_seconds=self._rest_settle.total_seconds(),
                rest_after_events=self._rest_after_events,
            )
        )

    def _at_rest(self, now: datetime, wake: datetime | None) -> bool:
        """Engine V5: the run has grown past its `rest_after_events` and nothing is due before
        its settle time has passed twice over: if nothing happens meanwhile, the run
        continues as new. Continuing costs one small run start; not continuing costs every
        cold replay of this episode (a cache miss, a restart) the run's whole history."""
        return (
            self._engine.state.engine_version >= ENGINE_V5
            and workflow.info().get_current_history_length() >= self._rest_after_events
            and (wake is None or wake - now >= 2 * self._rest_settle)
        )

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() >= self._history_limit
            or info.is_continue_as_new_suggested()
        )

    async def _drain(self) -> None:
        """Run queued payer commands, then write records and send messages in one call."""
        engine = self._engine
        while engine.state.commands:
            for command in engine.take_commands():
                await self._run_command(command)
        batch = engine.take_batch(workflow.info().run_id, workflow.now())
        if batch is not None:
            await workflow.execute_activity_method(
                CareActivities.record_effects,
                batch,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RECORD_RETRY,
                summary=f"record step {batch.seq}",
            )
        self._publish()

    async def _run_command(self, command: Command) -> None:
        engine = self._engine
        if command.kind is CommandKind.CHECK_AGE_GROUP:
            await self._check_age_group()
            return
        if command.kind is CommandKind.CHECK_ELIGIBILITY:
            try:
                result = await workflow.execute_activity_method(
                    CareActivities.check_eligibility,
                    eligibility_request(engine, command),
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=PAYER_RETRY,
                    summary="eligibility check (X12 270/271)",
                )
            except ActivityError as failed:
                rejected = _payer_rejected_data(failed)
                workflow.logger.warning(
                    "eligibility check failed (%s)", "data rejected" if rejected else "outage"
                )
                engine.eligibility_failed(retryable=not rejected, now=workflow.now())
                return
            engine.eligibility_checked(result, workflow.now())
            return
        assert command.level is not None and command.payer_kind is not None
        try:
            answer = await workflow.execute_activity_method(
                CareActivities.request_authorization,
                authorization_request(engine, command),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=PAYER_RETRY,
                summary=f"{command.payer_kind.value} request",
            )
        except ActivityError:
            workflow.logger.warning("authorization request failed; waiting for a recorded decision")
            answer = None
        engine.payer_answered(command, answer, workflow.now())

    async def _check_age_group(self) -> None:
        """Engine V4: ask the records whether the adolescent is an adult today. A failure
        changes nothing (the next review asks again)."""
        engine = self._engine
        try:
            group = await workflow.execute_activity_method(
                CareActivities.age_group_on,
                engine.age_group_check(workflow.now()),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=LOOKUP_RETRY,
                summary="age group from the records",
            )
        except ActivityError:
            workflow.logger.warning("age group check failed; asked again at the next review")
            return
        engine.age_group_checked(group, workflow.now())

    def _publish(self) -> None:
        """Keep search attributes and the UI's details current, writing only what changed."""
        engine = self._engine
        wanted = publishable(engine.state)
        changed = [
            update for name, (value, update) in wanted.items() if self._published.get(name) != value
        ]
        if changed:
            workflow.upsert_search_attributes(changed)
            self._published = {name: value for name, (value, _) in wanted.items()}
        details = _details(engine.state)
        if details != self._details:
            workflow.set_current_details(details)
            self._details = details

    # -------------------------------------------------------------- updates

    # Each update's validator resolves the submission (refusing it before it enters
    # history); its handler applies what was resolved. Neither dispatches on the action:
    # the engine's HANDLERS table does.

    def _validate(self, action: Action, submission: BaseModel) -> None:
        try:
            self._engine.validate(action, submission)
        except (TransitionNotAllowed, SubmissionConflict, InvalidSubmission, ValueError) as e:
            raise _refusal(e) from None

    def _apply(self, action: Action, submission: BaseModel) -> EngineDecision:
        try:
            return self._engine.answer(action, submission, workflow.now())
        except (TransitionNotAllowed, SubmissionConflict, InvalidSubmission) as e:
            # Only if the validator was skipped; otherwise it refused before history.
            raise _refusal(e) from None

    @workflow.update(name="submit_assessment")
    def submit_assessment(self, submission: AssessmentSubmission) -> EngineDecision:
        return self._apply(Action.SUBMIT_ASSESSMENT, submission)

    @submit_assessment.validator
    def _check_assessment(self, submission: AssessmentSubmission) -> None:
        self._validate(Action.SUBMIT_ASSESSMENT, submission)

    @workflow.update(name="submit_coverage")
    def submit_coverage(self, submission: CoverageSubmission) -> EngineDecision:
        return self._apply(Action.SUBMIT_COVERAGE, submission)

    @submit_coverage.validator
    def _check_coverage(self, submission: CoverageSubmission) -> None:
        self._validate(Action.SUBMIT_COVERAGE, submission)

    @workflow.update(name="record_authorization")
    def record_authorization(self, submission: AuthorizationDecision) -> EngineDecision:
        return self._apply(Action.RECORD_AUTHORIZATION, submission)

    @record_authorization.validator
    def _check_authorization(self, submission: AuthorizationDecision) -> None:
        self._validate(Action.RECORD_AUTHORIZATION, submission)

    @workflow.update(name="submit_review")
    def submit_review(self, submission: ReviewSubmission) -> EngineDecision:
        return self._apply(Action.SUBMIT_REVIEW, submission)

    @submit_review.validator
    def _check_review(self, submission: ReviewSubmission) -> None:
        self._validate(Action.SUBMIT_REVIEW, submission)

    @workflow.update(name="decide")
    def decide(self, submission: ClinicianDecision) -> EngineDecision:
        return self._apply(Action.DECIDE, submission)

    @decide.validator
    def _check_decision(self, submission: ClinicianDecision) -> None:
        self._validate(Action.DECIDE, submission)

    @workflow.update(name="report_event")
    def report_event(self, submission: EpisodeEvent) -> EngineDecision:
        return self._apply(Action.REPORT_EVENT, submission)

    @report_event.validator
    def _check_event(self, submission: EpisodeEvent) -> None:
        self._validate(Action.REPORT_EVENT, submission)

    @workflow.update(name="record_attendance")
    def record_attendance(self, submission: AttendanceNotice) -> EngineDecision:
        return self._apply(Action.RECORD_ATTENDANCE, submission)

    @record_attendance.validator
    def _check_attendance(self, submission: AttendanceNotice) -> None:
        self._validate(Action.RECORD_ATTENDANCE, submission)

    @workflow.update(name="submit_patient_measure")
    def submit_patient_measure(self, submission: PatientMeasureSubmission) -> EngineDecision:
        return self._apply(Action.SUBMIT_PATIENT_MEASURE, submission)

    @submit_patient_measure.validator
    def _check_patient_measure(self, submission: PatientMeasureSubmission) -> None:
        self._validate(Action.SUBMIT_PATIENT_MEASURE, submission)

    @workflow.update(name="acknowledge_alert")
    def acknowledge_alert(self, submission: AlertAcknowledgement) -> EngineDecision:
        return self._apply(Action.ACKNOWLEDGE_ALERT, submission)

    @acknowledge_alert.validator
    def _check_acknowledgement(self, submission: AlertAcknowledgement) -> None:
        self._validate(Action.ACKNOWLEDGE_ALERT, submission)

    # ---------------------------------------------------------------- query

    @workflow.query(name="state")
    def state(self) -> EpisodeView:
        return self._engine.view(workflow.now())


# An update as the client calls it: `handle.execute_update(UPDATES[action], submission)`.
EpisodeUpdate: TypeAlias = workflow.UpdateMethodMultiParam[[CareEpisode, Any], EngineDecision]
# The one mapping from an action to the update that carries it (the API reads it). The
# names the updates are registered under are fixed: running episodes and recorded
# histories use them.
UPDATES: Final[Mapping[Action, EpisodeUpdate]] = {
    Action.SUBMIT_ASSESSMENT: CareEpisode.submit_assessment,
    Action.SUBMIT_COVERAGE: CareEpisode.submit_coverage,
    Action.RECORD_AUTHORIZATION: CareEpisode.record_authorization,
    Action.SUBMIT_REVIEW: CareEpisode.submit_review,
    Action.DECIDE: CareEpisode.decide,
    Action.REPORT_EVENT: CareEpisode.report_event,
    Action.RECORD_ATTENDANCE: CareEpisode.record_attendance,
    Action.SUBMIT_PATIENT_MEASURE: CareEpisode.submit_patient_measure,
    Action.ACKNOWLEDGE_ALERT: CareEpisode.acknowledge_alert,
}


def _without_start_member(coverage: Coverage | None, start: Coverage | None) -> Coverage | None:
    """The carried coverage without its member ID when that is the start's (the records hold
    it); a member ID from a later change the records may not hold stays."""
    if coverage is None or start is None or start.member_id is None:
        return coverage
    return coverage.without_member() if coverage.member_id == start.member_id else coverage


def _payer_rejected_data(failed: ActivityError) -> bool:
    """The payer refused the member's data (no retry helps), as opposed to an outage."""
    cause = failed.cause
    return isinstance(cause, ApplicationError) and cause.type == PayerDataError.__name__


def _refusal(error: Exception) -> ApplicationError:
    """An engine refusal as the ApplicationError the API maps (type = exception name)."""
    if isinstance(error, TransitionNotAllowed):
        return ApplicationError(
            str(error),
            {"phase": error.phase.value, "allowed_actions": error.allowed},
            type=TransitionNotAllowed.__name__,
            non_retryable=True,
        )
    if isinstance(error, SubmissionConflict):
        return ApplicationError(
            str(error),
            {"action": error.action.value, "submission_id": error.submission_id},
            type=SubmissionConflict.__name__,
            non_retryable=True,
        )
    return ApplicationError(str(error), type=InvalidSubmission.__name__, non_retryable=True)


def _details(state: EpisodeState) -> str:
    """What an operator sees in the Web UI: no names, no scores, no identifiers."""
    level = state.delivered_level.value if state.delivered_level else "none"
    due = state.review.due.strftime("%Y-%m-%d %H:%M UTC") if state.review else "none"
    flags = ", ".join(f.value for f in state.flags) or "none"
    return (
        f"**phase** {state.phase.value}  \n**level** {level}  \n"
        f"**next review** {due}  \n**open flags** {flags}  \n**run** {state.run_count}"
    )
