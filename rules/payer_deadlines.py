"""How long a payer has to decide, by the kind of coverage and the request's priority.

Defaults: commercial and employer (ERISA) plans decide pre-service requests in 15 days,
urgent ones in 72 hours, and an urgent concurrent request (an extension filed at least
24 hours before the approval runs out) in 24 hours; Medicare Advantage and Medicaid
(CMS-0057-F, from 2026) decide standard requests in 7 calendar days and expedited ones
in 72 hours, concurrent requests included. Every number is a policy setting.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class PlanType(StrEnum):
    """The coverage's regulator, which sets the payer's decision deadlines."""

    COMMERCIAL = "commercial"  # employer (ERISA) and individual commercial plans
    MEDICARE_ADVANTAGE = "medicare_advantage"
    MEDICAID = "medicaid"


class Priority(StrEnum):
    STANDARD = "standard"
    EXPEDITED = "expedited"
    URGENT_CONCURRENT = "urgent_concurrent"


class DecisionClock(BaseModel):
    """Hours the payer has to decide, per priority."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    standard_hours: float = Field(gt=0, le=24 * 60)
    expedited_hours: float = Field(gt=0, le=24 * 14)
    urgent_concurrent_hours: float = Field(gt=0, le=24 * 14)

    def hours(self, priority: Priority) -> float:
        return {
            Priority.STANDARD: self.standard_hours,
            Priority.EXPEDITED: self.expedited_hours,
            Priority.URGENT_CONCURRENT: self.urgent_concurrent_hours,
        }[priority]


def default_decision_clocks() -> dict[PlanType, DecisionClock]:
    return {
        PlanType.COMMERCIAL: DecisionClock(
            standard_hours=15 * 24, expedited_hours=72, urgent_concurrent_hours=24
        ),
        PlanType.MEDICARE_ADVANTAGE: DecisionClock(
            standard_hours=7 * 24, expedited_hours=72, urgent_concurrent_hours=72
        ),
        PlanType.MEDICAID: DecisionClock(
            standard_hours=7 * 24, expedited_hours=72, urgent_concurrent_hours=72
        ),
    }
