"""The live quality clocks on Temporal's time-skipping server: durable timers that fire
across a long sleep (the alert at the lead time, then the missed windows), written
through the records batch; a visit inside the window stops them."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from rules.levels import LevelOfCare
from schemas.quality import ClockStatus, QualityMeasure
from schemas.submissions import EpisodeEventKind
from tests.workflows.clinic import Adapters, Clinic, running_worker

M = QualityMeasure


def recorded(adapters: Adapters, episode_id: str) -> dict[str, list[ClockStatus]]:
    """Each clock's statuses in the order the batches wrote them."""
    found: dict[str, list[ClockStatus]] = {}
    for _, batch in sorted(adapters.store.batches.items()):
        if batch.episode.episode_id == episode_id:
            for clock in batch.quality_clocks:
                found.setdefault(clock.measure.value, []).append(clock.status)
    return found


async def back_from_inpatient(clinic: Clinic) -> None:
    await clinic.assess(LevelOfCare.INPATIENT, total=24)
    await clinic.event(EpisodeEventKind.ADMITTED)
    await clinic.event(EpisodeEventKind.DISCHARGED, LevelOfCare.IOP)


async def test_the_windows_alert_and_close_on_durable_timers_across_a_long_sleep(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await back_from_inpatient(clinic)
        opened = {c.measure: c for c in (await clinic.state()).quality_clocks}
        assert set(opened) == {M.FUH_7, M.FUH_30}
        assert all(c.status is ClockStatus.OPEN for c in opened.values())
        await clinic.wait(days=45)  # one long sleep: every timer on the way must fire
        state = await clinic.state()
        clocks = {c.measure: c for c in state.quality_clocks}
        assert clocks[M.FUH_7].status is ClockStatus.MISSED
        assert clocks[M.FUH_30].status is ClockStatus.MISSED
        # Each fired on its own timer, at its moment (a timer fires at or just after it).
        closed, alerted = clocks[M.FUH_7].closed_at, clocks[M.FUH_7].alerted_at
        alert_at = opened[M.FUH_7].alert_at
        assert closed is not None and alerted is not None and alert_at is not None
        assert timedelta(0) <= closed - opened[M.FUH_7].closes_at < timedelta(minutes=1)
        assert timedelta(0) <= alerted - alert_at < timedelta(minutes=1)
        alerts = adapters.outbox.templates(clinic.episode_id, "care_team")
        assert alerts.count("quality_window_closing") == 2
        history = recorded(adapters, clinic.episode_id)
        assert history[M.FUH_7.value] == [ClockStatus.OPEN, ClockStatus.OPEN, ClockStatus.MISSED]
        assert history[M.FUH_30.value][-1] is ClockStatus.MISSED


async def test_a_visit_inside_the_window_stops_the_clocks(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await back_from_inpatient(clinic)
        await clinic.wait(days=2)
        await clinic.visit(days_after=0, kind="iop")
        await clinic.wait(days=40)
        clocks = {c.measure: c for c in (await clinic.state()).quality_clocks}
        assert {c.status for c in clocks.values()} == {ClockStatus.MET}
        assert "quality_window_closing" not in adapters.outbox.templates(
            clinic.episode_id, "care_team"
        )
        assert recorded(adapters, clinic.episode_id)[M.FUH_7.value][-1] is ClockStatus.MET
