"""Path 5: inactive coverage, denial and appeal, units running low, a silent payer."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy
from rules.recommendation import Flag
from rules.transitions import CarePhase
from tests.workflows.clinic import Clinic, running_worker


async def test_inactive_coverage_goes_to_financial_counseling_then_self_pay(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue, member_id="INACTIVE-001")
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        state = await clinic.state()
        assert state.phase is CarePhase.FINANCIAL_COUNSELING
        assert Flag.COVERAGE_INACTIVE in state.flags
        assert "coverage_inactive" in adapters.outbox.templates(
            clinic.episode_id, "financial_counseling"
        )

        enrolled = await clinic.coverage(self_pay=True)
        assert enrolled.phase is CarePhase.IN_TREATMENT
        assert enrolled.delivered_level is LevelOfCare.IOP
        assert Flag.COVERAGE_INACTIVE not in enrolled.flags


async def test_updated_coverage_is_checked_again(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue, member_id="INACTIVE-002")
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        await clinic.coverage(member_id="NOAUTH-777")
        await clinic.wait(hours=1)
        state = await clinic.state()
        assert state.phase is CarePhase.IN_TREATMENT
        assert adapters.payer.eligibility_calls == 2
        assert state.authorized_level is None  # no authorization was needed


async def test_financial_hold_closes_when_nothing_changes(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue, coverage=False)
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(days=31)
        assert (await clinic.handle.result()).outcome == "coverage_unresolved"


async def test_denial_opens_appeal_window_with_deadline(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue, member_id="DENY-100")
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        state = await clinic.state()
        assert state.phase is CarePhase.APPEAL
        assert state.appeal_deadline is not None
        assert (state.appeal_deadline - state.updated_at).days == 60
        assert Flag.APPEAL_OPEN in state.flags
        assert "auth_denied" in adapters.outbox.templates(clinic.episode_id, "care_team")

        won = await clinic.approve_appeal()
        assert won.phase is CarePhase.IN_TREATMENT


async def test_appeal_window_closing_ends_the_episode(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue, member_id="DENY-200")
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(days=61)
        assert (await clinic.handle.result()).outcome == "authorization_denied"


async def test_low_units_send_a_concurrent_review_before_they_run_out(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        await clinic.approve(units=10, days=90)
        await clinic.until_review()
        await clinic.review(14, units=3)
        assert adapters.payer.authorization_calls == 1  # 7 left, 3 expected: enough
        await clinic.until_review()
        # 6 used: 4 left, but 3 more expected before the next review: 1, under the line.
        low = await clinic.review(13, units=3)
        assert Flag.AUTHORIZATION_LOW in low.flags
        await clinic.wait(hours=1)
        state = await clinic.state()
        assert state.pending_payer_request is not None
        assert state.pending_payer_request.kind == "concurrent_review"
        assert adapters.payer.authorization_calls == 2

        extended = await clinic.approve(units=12, days=60)
        assert Flag.AUTHORIZATION_LOW not in extended.flags
        state = await clinic.state()
        assert state.authorization is not None and state.authorization.units_left == 12


async def test_expiry_within_three_days_requests_review_by_timer(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, _adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        await clinic.approve(units=40, days=10)
        await clinic.wait(days=8)
        state = await clinic.state()
        assert state.pending_payer_request is not None
        assert state.pending_payer_request.kind == "concurrent_review"
        assert state.authorization is not None
        assert state.authorization.units_left == 40  # it was the date, not the units


async def test_silent_payer_past_its_deadline_is_escalated(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue, member_id="SILENT-9")
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(days=6)
        assert Flag.PAYER_OVERDUE not in (await clinic.state()).flags
        await clinic.wait(days=2)
        state = await clinic.state()
        assert Flag.PAYER_OVERDUE in state.flags
        assert "payer_decision_overdue" in adapters.outbox.templates(
            clinic.episode_id, "supervisor"
        )


async def test_payer_that_approves_at_once_enrolls_without_staff(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue, member_id="APPROVE-5")
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        state = await clinic.state()
        assert state.phase is CarePhase.IN_TREATMENT
        assert state.authorization is not None
        assert state.authorization.units_approved == 20


async def test_payer_rejecting_the_member_id_is_not_retried(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue, member_id="BADDATA-1")
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        assert (await clinic.state()).phase is CarePhase.FINANCIAL_COUNSELING
        assert adapters.payer.eligibility_calls == 1


async def test_approval_for_the_wrong_level_is_refused(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue)
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        with pytest.raises(WorkflowUpdateFailedError, match="update failed"):
            await clinic.approve(level=LevelOfCare.PHP)
        assert (await clinic.state()).phase is CarePhase.AUTHORIZATION
        with pytest.raises(WorkflowUpdateFailedError):
            await clinic.approve_appeal()  # no appeal is open
        assert (await clinic.state()).phase is CarePhase.AUTHORIZATION


async def test_part2_program_holds_payer_requests_without_consent(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(
            ts_env,
            queue,
            policy=ProgramPolicy(part2_program=True),
            payer_disclosure_consent=False,
        )
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        state = await clinic.state()
        assert state.phase is CarePhase.AUTHORIZATION
        assert adapters.payer.authorization_calls == 0  # nothing disclosed
        assert Flag.DISCLOSURE_CONSENT_MISSING in state.flags
        assert state.pending_payer_request is not None
        assert state.pending_payer_request.reference == "held-for-consent"
        assert "payer_disclosure_consent_missing" in adapters.outbox.templates(
            clinic.episode_id, "utilization_review"
        )
        enrolled = await clinic.approve()
        assert Flag.DISCLOSURE_CONSENT_MISSING not in enrolled.flags
