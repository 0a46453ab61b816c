"""Live quality clocks in the engine (V3): HEDIS FUH after an inpatient stay, and IET for a
substance-use program, as durable deadlines (see `workflows/deadlines.py`).

A clock opens (FUH at the return from inpatient, IET initiation at the episode's start,
IET engagement once initiation is met); a visit or an attended session inside its window
counts towards it; the care team is alerted at the policy's lead time before a window
with no visit closes; a window that closes unmet is recorded as missed. Every change is
written through the records batch (`quality_clocks` in PostgreSQL). Windows and counting
are `workflows/clock_windows.py`.
"""

from __future__ import annotations

from datetime import date, datetime

from rules import localtime
from schemas.quality import ClockStatus, QualityClock, QualityMeasure
from schemas.records import Recipient
from workflows import clock_windows as clocks
from workflows.safety import SafetyMixin
from workflows.state import ENGINE_V3

# Closed clocks kept in the carried state for the episode view (PostgreSQL keeps all).
CLOSED_CLOCKS_KEPT = 8


class QualityClocksMixin(SafetyMixin):
    @property
    def v3(self) -> bool:
        return self.state.engine_version >= ENGINE_V3

    def _keep_clock(self, clock: QualityClock) -> None:
        """Track a new or changed clock and queue its record."""
        s = self.state
        if not any(c is clock for c in s.quality_clocks):
            s.quality_clocks.append(clock)
        s.clock_records.append(clock.model_copy(deep=True))
        closed = [c for c in s.quality_clocks if c.status is not ClockStatus.OPEN]
        for old in closed[:-CLOSED_CLOCKS_KEPT]:
            s.quality_clocks.remove(old)

    def _open_clocks(self) -> list[QualityClock]:
        return [c for c in self.state.quality_clocks if c.status is ClockStatus.OPEN]

    def _open_fuh_clocks(self, discharged_on: date, now: datetime) -> None:
        if not self.v3:
            return
        for clock in clocks.fuh_clocks(discharged_on, now, self.state.start.policy):
            self._keep_clock(clock)

    def _open_iet_clock(self, now: datetime) -> None:
        """A new substance-use episode: the initiation window starts on its first day."""
        policy = self.state.start.policy
        if not self.v3 or not policy.treats_substance_use:
            return
        day = localtime.local_date(now, policy.time_zone)
        self._keep_clock(clocks.iet_initiation(day, now, policy))

    def _clock_service(self, day: date, now: datetime) -> list[str]:
        """A visit or attended session on `day`: which open clocks it counts for."""
        if not self.v3:
            return []
        policy = self.state.start.policy
        if day > localtime.local_date(now, policy.time_zone):
            return []
        reasons: list[str] = []
        for clock in self._open_clocks():
            before = len(clock.service_days)
            met = clocks.count_service(clock, day, now)
            if met:
                reasons.append(f"{clock.measure.value}_met")
            if met or len(clock.service_days) != before:
                self._keep_clock(clock)
            if met and clock.measure is QualityMeasure.IET_INITIATION:
                self._keep_clock(clocks.iet_engagement(day, now, policy))
        return reasons

    # ------------------------------------------------------------ deadlines

    def _clock_alert_due(self) -> datetime | None:
        times = [c.alert_at for c in self._open_clocks() if c.alert_at and not c.alerted_at]
        return min(times) if times else None

    def _clock_alerts(self, now: datetime) -> None:
        """A window about to close without its visit: the care team is told, once."""
        for clock in self._open_clocks():
            if clock.alert_at is None or clock.alerted_at or now < clock.alert_at:
                continue
            clock.alerted_at = now
            clock.updated_at = now
            self._keep_clock(clock)
            self._notify(
                Recipient.CARE_TEAM,
                "quality_window_closing",
                urgent=True,
                measure=clock.measure.value,
                last_day=clock.last_day.isoformat(),
            )

    def _clock_close_due(self) -> datetime | None:
        times = [c.closes_at for c in self._open_clocks()]
        return min(times) if times else None

    def _clocks_missed(self, now: datetime) -> None:
        """Windows that closed unmet are recorded as missed, with the day they closed."""
        for clock in self._open_clocks():
            if now < clock.closes_at:
                continue
            clock.status = ClockStatus.MISSED
            clock.closed_at = now
            clock.updated_at = now
            self._keep_clock(clock)
