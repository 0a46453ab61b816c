"""The live quality clocks' windows and counting, on the program's local calendar; pure.

FUH: days 1..N after the discharge day (the discharge day itself never counts). IET:
initiation on days 0..`iet_initiation_days` from the episode's start; engagement,
`iet_engagement_services` more services on distinct days 1..`iet_engagement_days` after
the initiation day. A window closes at local midnight after its last day; the care team
is alerted `quality_alert_lead_days` before that (at the start of the local day), or at
the opening when the window is shorter than the lead time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from rules import localtime
from rules.policy import ProgramPolicy
from schemas.quality import ClockStatus, QualityClock, QualityMeasure

FUH_DAYS = {QualityMeasure.FUH_7: 7, QualityMeasure.FUH_30: 30}


def open_clock(
    measure: QualityMeasure,
    index: date,
    first_day: date,
    last_day: date,
    now: datetime,
    policy: ProgramPolicy,
    *,
    services_needed: int = 1,
) -> QualityClock:
    tz = policy.time_zone
    closes_at = localtime.local_midnight_after(last_day, tz)
    alert_at: datetime | None = None
    if policy.quality_alert_lead_days > 0:
        lead = last_day - timedelta(days=policy.quality_alert_lead_days)
        alert_at = max(localtime.local_midnight_after(lead, tz), now)
        if alert_at >= closes_at:
            alert_at = None
    return QualityClock(
        clock_id=f"{measure.value}:{index.isoformat()}",
        measure=measure,
        index_date=index,
        first_day=first_day,
        last_day=last_day,
        closes_at=closes_at,
        alert_at=alert_at,
        services_needed=services_needed,
        opened_at=now,
        updated_at=now,
    )


def fuh_clocks(discharged_on: date, now: datetime, policy: ProgramPolicy) -> list[QualityClock]:
    """The 7- and 30-day windows after a discharge from inpatient."""
    first = discharged_on + timedelta(days=1)
    return [
        open_clock(m, discharged_on, first, discharged_on + timedelta(days=n), now, policy)
        for m, n in FUH_DAYS.items()
    ]


def iet_initiation(started_on: date, now: datetime, policy: ProgramPolicy) -> QualityClock:
    last = started_on + timedelta(days=policy.iet_initiation_days)
    return open_clock(QualityMeasure.IET_INITIATION, started_on, started_on, last, now, policy)


def iet_engagement(initiated_on: date, now: datetime, policy: ProgramPolicy) -> QualityClock:
    return open_clock(
        QualityMeasure.IET_ENGAGEMENT,
        initiated_on,
        initiated_on + timedelta(days=1),
        initiated_on + timedelta(days=policy.iet_engagement_days),
        now,
        policy,
        services_needed=policy.iet_engagement_services,
    )


def count_service(clock: QualityClock, day: date, now: datetime) -> bool:
    """Count a service on `day` towards an open clock; True if that met it."""
    if clock.status is not ClockStatus.OPEN or not clock.first_day <= day <= clock.last_day:
        return False
    if day not in clock.service_days:
        clock.service_days.append(day)
        clock.updated_at = now
    if len(clock.service_days) < clock.services_needed:
        return False
    clock.status = ClockStatus.MET
    clock.met_on = day
    clock.closed_at = now
    clock.updated_at = now
    return True


def end_open(clocks: list[QualityClock], now: datetime) -> list[QualityClock]:
    """The episode closed: every clock still open ends (neither met nor missed); the ended."""
    ended: list[QualityClock] = []
    for clock in clocks:
        if clock.status is ClockStatus.OPEN:
            clock.status = ClockStatus.ENDED
            clock.closed_at = now
            clock.updated_at = now
            ended.append(clock.model_copy(deep=True))
    return ended
