"""Read models the store's queries return (and the API serves)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from schemas.records import EpisodeSnapshot


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CensusRow(_Row):
    """Open episodes in one program at one delivered level (None before enrolment) and phase."""

    program_id: str
    level: LevelOfCare | None
    phase: CarePhase
    episodes: int


class EpisodeRow(EpisodeSnapshot):
    """An `episodes` row: the snapshot the workflow last wrote, read back unchanged (its
    `level_*` columns read as `*_level`, see schemas/records.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ReviewsDue(_Row):
    """Open episodes whose review is past due, and those due later today (in the clinic's zone)."""

    as_of: datetime
    overdue: list[EpisodeRow]
    due_today: list[EpisodeRow]


class ExpiringAuthorization(_Row):
    episode_id: str
    program_id: str
    authorization_number: str | None
    payer_id: str | None
    level: LevelOfCare
    status: str
    units_approved: int | None
    units_used: int | None
    start_date: date | None
    end_date: date
    days_left: int


class TimelineEntry(_Row):
    """One line of an episode's audit trail: a transition, a review, a messaging-consent
    change the patient made, attendance and billing, or a 6-/12-month follow-up's step
    (store/followups.py), in time order."""

    kind: Literal["transition", "review", "messaging", "attendance", "billing", "followup"]
    at: datetime
    actor: str
    from_phase: CarePhase | None = None
    to_phase: CarePhase | None = None
    event: str | None = None
    reason: str | None = None
    delivered_level: LevelOfCare | None = None
    authorized_level: LevelOfCare | None = None
    review_id: str | None = None
    review_kind: str | None = None
    phq9_total: int | None = None
    gad7_total: int | None = None
    hours_attended: float | None = None
    recommended_action: str | None = None
    decision: str | None = None
    override_reason: str | None = None
    reasons: list[str] = Field(
        default_factory=list,
        description="a review: the engine's reasons; a decision: the clinician's reason",
    )
    # Attendance (a no-show, a correction) and billable-day decisions, from the rosters.
    session_id: str | None = None
    day: date | None = None
    value: str | None = Field(default=None, description="what was recorded or decided")
    earlier_value: str | None = Field(default=None, description="a correction: the value before")


class ProgramOutcomes(_Row):
    """Outcomes over a program's closed episodes (entered-in-error closures excluded).

    Rates are shares of `closed_episodes`; the PHQ-9 share is of the closed episodes that
    have both a baseline and a discharge score (`phq9_measured`).
    """

    program_id: str
    closed_episodes: int
    median_length_of_stay_days: float | None
    step_down_rate: float
    step_up_rate: float
    phq9_measured: int
    phq9_response_or_remission_rate: float | None


class EpisodeFilter(_Row):
    """Filters for the episode list; `programs` is the caller's allowed set (None = all)."""

    programs: list[str] | None = None
    phase: CarePhase | None = None
    level: LevelOfCare | None = None
    review_due_before: datetime | None = None
    overdue: bool | None = None
    risk_flag: bool | None = None
    authorization_expiring_within_days: int | None = Field(default=None, ge=0)
    include_closed: bool = False


class EpisodeKey(_Row):
    """Where a page of the episode list ends: the list's sort key of its last row (keyset
    pagination; the next page starts after it)."""

    next_review_due: datetime | None
    episode_id: str


class EpisodePage(_Row):
    """One page of the episode list. `total` (every matching episode) only when counting
    was asked for, else None: counting is the one cost that grows with the table.
    `more`: a next page exists; it starts after the last item."""

    items: list[EpisodeRow]
    total: int | None
    limit: int
    more: bool

    def last_key(self) -> EpisodeKey | None:
        """The key a next page starts after, or None when this is the last page."""
        if not self.more or not self.items:
            return None
        last = self.items[-1]
        return EpisodeKey(next_review_due=last.next_review_due, episode_id=last.episode_id)
