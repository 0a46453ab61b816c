"""Durable timers of the payer and age rules on the time-skipping server: a filed appeal
keeps a denied episode open past the window; an adolescent becomes an adult on the day."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from rules.levels import AgeGroup, LevelOfCare
from rules.recommendation import Flag
from rules.transitions import CarePhase
from schemas.submissions import AuthorizationKind
from tests.workflows.clinic import Clinic, running_worker


async def test_a_filed_appeal_outlives_the_window_and_is_chased_when_late(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue, member_id="DENY-7")
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        assert (await clinic.state()).phase is CarePhase.APPEAL

        filed = await clinic.record_authorization(kind=AuthorizationKind.APPEAL_FILED)
        assert filed.phase is CarePhase.APPEAL
        await clinic.wait(days=61)  # the 60-day window would have closed the episode

        state = await clinic.state()
        assert state.phase is CarePhase.APPEAL
        assert state.appeal is not None and state.appeal.escalated
        assert Flag.PAYER_OVERDUE in state.flags
        assert "appeal_decision_overdue" in adapters.outbox.templates(
            clinic.episode_id, "supervisor"
        )
        enrolled = await clinic.approve_appeal()
        assert enrolled.phase is CarePhase.IN_TREATMENT


async def test_an_adolescent_becomes_an_adult_on_the_birthday_by_a_durable_timer(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        today = (await ts_env.get_current_time()).date()
        clinic = await Clinic.admit(
            ts_env,
            queue,
            member_id="NOAUTH-18",
            age_group=AgeGroup.ADOLESCENT,
            adult_on=today + timedelta(days=3),
        )
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        assert (await clinic.state()).age_group is AgeGroup.ADOLESCENT
        await clinic.wait(days=3)
        assert (await clinic.state()).age_group is AgeGroup.ADULT
        assert "age_group_changed" in adapters.outbox.templates(clinic.episode_id, "care_team")
