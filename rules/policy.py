"""A program's policy: every number the rules use, with DESIGN.md's defaults.

A program changes its review interval or its minimums by sending a different policy
with the episode; no code changes. The policy travels inside the workflow's input.

Every number has a range, every level the program delivers has its entries, and the
cross-field rules are checked on the field they constrain, so a 422 names that field.

Strict where a policy is new (the API's bodies, code that builds one), lenient where a
stored one is read back (`stored_policies()`: a running episode's input or carried state):
a policy accepted by an older release must still decode, with the values it was started
with, however today's rules judge them.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Annotated, Any, Self, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rules import localtime
from rules.levels import AgeGroup, LevelOfCare, is_external
from rules.messaging import MessagingPolicy
from rules.payer_deadlines import DecisionClock, PlanType, default_decision_clocks

Hours = Annotated[float, Field(ge=0, le=168)]
PHQ9_MAX = 27


def _later_than(info: ValidationInfo, name: str, value: float) -> None:
    earlier = info.data.get(name)
    if earlier is not None and value <= earlier:
        raise ValueError(f"must be greater than {name} ({earlier})")


_STORED: ContextVar[bool] = ContextVar("carepath_stored_policy", default=False)


@contextmanager
def stored_policies() -> Iterator[None]:
    """Within: a policy that fails today's validation is read as stored, not refused."""
    token = _STORED.set(True)
    try:
        yield
    finally:
        _STORED.reset(token)


def _unconstrained(hint: Any) -> Any:
    """The type without its range constraints (`Annotated` metadata), at every depth."""
    origin = get_origin(hint)
    if origin is Annotated:
        return _unconstrained(get_args(hint)[0])
    if origin is None:
        return hint
    args = tuple(_unconstrained(a) for a in get_args(hint))
    if origin in (Union, types.UnionType):
        return Union[args]  # noqa: UP007 - built from a tuple at run time
    return origin[args]


@cache
def _loose_field(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    return TypeAdapter(_unconstrained(model.model_fields[name].annotation))


class ProgramPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _lenient_when_stored(
        cls, data: Any, handler: ModelWrapValidatorHandler[ProgramPolicy]
    ) -> ProgramPolicy:
        """A stored policy that today's rules refuse keeps its values (types still checked;
        settings this release no longer knows are dropped)."""
        try:
            return handler(data)
        except ValidationError:
            if not _STORED.get() or not isinstance(data, dict):
                raise
        values = {
            name: _loose_field(cls, name).validate_python(data[name])
            for name in cls.model_fields
            if name in data
        }
        return cls.model_construct(**values)

    # The levels this program delivers itself; each needs a review interval and minimums.
    levels_delivered: frozenset[LevelOfCare] = Field(
        default=frozenset({LevelOfCare.PHP, LevelOfCare.IOP, LevelOfCare.OP}), min_length=1
    )

    # Reviews: how often, and when a missing one is chased.
    review_interval_days: dict[LevelOfCare, Annotated[float, Field(gt=0, le=92)]] = Field(
        default_factory=lambda: {LevelOfCare.PHP: 7.0, LevelOfCare.IOP: 7.0, LevelOfCare.OP: 28.0}
    )
    review_grace_hours: float = Field(default=24, gt=0, le=24 * 14)
    review_escalation_hours: float = Field(default=72, gt=0, le=24 * 30)

    # Weekly clinical-hour minimums (IOP adults 9, adolescents 6; PHP 20).
    weekly_minimum_hours: dict[LevelOfCare, dict[AgeGroup, Hours]] = Field(
        default_factory=lambda: {
            LevelOfCare.PHP: {AgeGroup.ADULT: 20.0, AgeGroup.ADOLESCENT: 20.0},
            LevelOfCare.IOP: {AgeGroup.ADULT: 9.0, AgeGroup.ADOLESCENT: 6.0},
            LevelOfCare.OP: {AgeGroup.ADULT: 0.0, AgeGroup.ADOLESCENT: 0.0},
        }
    )
    low_attendance_weeks_needing_plan: int = Field(default=2, ge=1, le=52)

    # Outcomes (PHQ-9).
    response_drop_fraction: float = Field(default=0.5, gt=0, le=1)
    remission_below: int = Field(default=5, ge=1, le=PHQ9_MAX)
    meaningful_change: int = Field(default=5, ge=1, le=PHQ9_MAX)
    consecutive_reviews_for_step_down: int = Field(default=2, ge=1, le=52)
    outcome_index_min_phq9: int = Field(default=10, ge=0, le=PHQ9_MAX)
    discharge_below_phq9: int = Field(default=10, ge=1, le=PHQ9_MAX + 1)
    reviews_without_measures_for_flag: int = Field(default=2, ge=1, le=52)

    # Safety: overrides need real text; an unassessed risk flag escalates.
    override_min_chars: int = Field(default=15, ge=1, le=2000)
    risk_escalation_hours: float = Field(default=4, gt=0, le=24)
    risk_escalation_end_of_local_day: bool = True
    # The urgent risk alert must be acknowledged (engine V3): unacknowledged this long after
    # it went, the supervisor is told; still unacknowledged the repeat later, again.
    risk_alert_ack_minutes: float = Field(default=60, ge=5, le=24 * 60)
    risk_alert_ack_repeat_minutes: float = Field(default=60, ge=5, le=24 * 60)

    # Utilization management.
    levels_requiring_authorization: frozenset[LevelOfCare] = frozenset(
        {LevelOfCare.IOP, LevelOfCare.PHP}
    )
    units_requested: int = Field(default=20, ge=1, le=1000)
    low_units_threshold: int = Field(default=3, ge=0, le=1000)
    expiry_warning_days: float = Field(default=3, ge=0, le=60)
    payer_decision_days_standard: float = Field(default=7, gt=0, le=60)
    payer_decision_hours_expedited: float = Field(default=72, gt=0, le=24 * 14)
    appeal_window_days: float = Field(default=60, ge=1, le=365)
    appeal_decision_days_standard: float = Field(default=30, gt=0, le=365)
    appeal_decision_hours_expedited: float = Field(default=72, gt=0, le=24 * 30)
    # Decision deadlines by the coverage's plan type (the two fields above serve coverage
    # of no known type); an extension filed this long before the approval runs out is
    # an urgent concurrent request.
    payer_decision_clocks: dict[PlanType, DecisionClock] = Field(
        default_factory=default_decision_clocks
    )
    urgent_concurrent_lead_hours: float = Field(default=24, gt=0, le=24 * 14)
    urgent_concurrent_decision_hours: float = Field(default=24, gt=0, le=24 * 14)
    # The payer could not be asked (outage): ask again after this long, until it answers.
    eligibility_retry_hours: float = Field(default=4, gt=0, le=24 * 7)

    # Waiting on others.
    financial_hold_days: float = Field(default=30, ge=1, le=365)
    external_wait_days: float = Field(default=90, ge=1, le=365)
    external_followup_days: float = Field(default=7, ge=1, le=60)

    # Aftercare check-ins, in days after discharge (HEDIS FUH 7/30, alumni 60/90).
    aftercare_checkin_days: tuple[Annotated[float, Field(gt=0, le=730)], ...] = Field(
        default=(7, 30, 60, 90), min_length=1, max_length=24
    )

    # The program's local calendar (IANA zone), and the local hours in which patient
    # messages go out (questionnaires and check-ins are timed into it, others held for
    # it). Unset: the hours outside `messaging`'s quiet hours (08:00-21:00 by default) for
    # engine V4 runs, any hour for V3 runs (`message_window`); (0, 24) is any hour.
    time_zone: str = Field(default="UTC", max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+\-/]*$")
    patient_message_window_hours: tuple[float, float] | None = None

    # 42 CFR Part 2: patient messages do not even name the program.
    part2_program: bool = False

    # Live quality clocks (engine V3). HEDIS IET runs for a substance-use program (every
    # Part 2 program is one): initiation within `iet_initiation_days` of the episode's
    # start, engagement (`iet_engagement_services` more) within `iet_engagement_days` of
    # initiation. The care team hears `quality_alert_lead_days` before a window with no
    # visit yet closes (0: no alert).
    substance_use_program: bool = False
    iet_initiation_days: int = Field(default=14, ge=0, le=90)
    iet_engagement_days: int = Field(default=34, ge=1, le=180)
    iet_engagement_services: int = Field(default=2, ge=1, le=20)
    quality_alert_lead_days: int = Field(default=2, ge=0, le=30)

    # Messages to patients: quiet hours in the patient's time zone and a rate limit.
    messaging: MessagingPolicy = Field(default_factory=MessagingPolicy)

    @field_validator("levels_delivered")
    @classmethod
    def _program_levels(cls, levels: frozenset[LevelOfCare]) -> frozenset[LevelOfCare]:
        external = sorted(level.value for level in levels if is_external(level))
        if external:
            raise ValueError(f"{', '.join(external)} are delivered elsewhere, not by a program")
        return levels

    @field_validator("review_interval_days", "weekly_minimum_hours")
    @classmethod
    def _every_delivered_level(
        cls, table: dict[LevelOfCare, object], info: ValidationInfo
    ) -> object:
        missing = sorted(
            level.value for level in info.data.get("levels_delivered", ()) if level not in table
        )
        if missing:
            raise ValueError(
                f"needs an entry for every level delivered; missing {', '.join(missing)}"
            )
        if info.field_name == "weekly_minimum_hours":
            for level, by_age in table.items():
                assert isinstance(by_age, dict)
                absent = sorted(age.value for age in AgeGroup if age not in by_age)
                if absent:
                    raise ValueError(f"{level.value} needs a minimum for {', '.join(absent)}")
        return table

    @field_validator("review_escalation_hours")
    @classmethod
    def _escalation_after_reminder(cls, value: float, info: ValidationInfo) -> float:
        _later_than(info, "review_grace_hours", value)
        return value

    @field_validator("discharge_below_phq9")
    @classmethod
    def _discharge_at_or_above_remission(cls, value: int, info: ValidationInfo) -> int:
        remission = info.data.get("remission_below")
        if remission is not None and value < remission:
            raise ValueError(f"must be at least remission_below ({remission})")
        return value

    @field_validator("low_units_threshold")
    @classmethod
    def _threshold_below_request(cls, value: int, info: ValidationInfo) -> int:
        requested = info.data.get("units_requested")
        if requested is not None and value >= requested:
            raise ValueError(f"must be less than units_requested ({requested})")
        return value

    @field_validator("aftercare_checkin_days")
    @classmethod
    def _distinct_checkins(cls, days: tuple[float, ...]) -> tuple[float, ...]:
        if len(set(days)) != len(days):
            raise ValueError("check-in days must be distinct")
        return days

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        localtime.zone(name)
        return name

    @field_validator("patient_message_window_hours")
    @classmethod
    def _window(cls, window: tuple[float, float] | None) -> tuple[float, float] | None:
        if window is not None and not 0 <= window[0] < window[1] <= 24:
            raise ValueError("needs 0 <= opens < closes <= 24 (local hours)")
        return window

    @model_validator(mode="after")
    def _warning_leaves_time_to_decide(self) -> Self:
        """An extension asked for at the expiry warning must be decidable before expiry."""
        lead = self.expiry_warning_days * 24
        urgent = lead >= self.urgent_concurrent_lead_hours
        slowest = max(
            [
                clock.urgent_concurrent_hours if urgent else clock.expedited_hours
                for clock in self.payer_decision_clocks.values()
            ]
            + [
                self.urgent_concurrent_decision_hours
                if urgent
                else self.payer_decision_hours_expedited
            ]
        )
        if lead < slowest:
            raise ValueError(
                f"expiry_warning_days ({self.expiry_warning_days:g}) is shorter than the "
                f"payer's decision time on an extension ({slowest:g} h)"
            )
        return self

    def message_window(self) -> tuple[float, float] | None:
        """The local hours patient messages go out in (engine V4): the window set, else the
        hours outside the messaging quiet hours (21:00-08:00 quiet: 08:00-21:00), so the
        one rule of issue 12 times the engine's messages too. The quiet hours are the
        patient's own zone at delivery; the engine, which holds no patient zone, applies
        them in the program's. None: any hour (no quiet hours). Quiet hours inside one day
        (`start < end`) leave the hours from their end to midnight (a stricter window)."""
        if self.patient_message_window_hours is not None:
            return self.patient_message_window_hours
        start, end = self.messaging.quiet_hours_start, self.messaging.quiet_hours_end
        if start == end:
            return None
        return (float(end), float(start)) if start > end else (float(end), 24.0)

    def minimum_hours(self, level: LevelOfCare, age_group: AgeGroup) -> float:
        return self.weekly_minimum_hours.get(level, {}).get(age_group, 0.0)

    @property
    def treats_substance_use(self) -> bool:
        """A substance-use program (HEDIS IET applies): said so, or a 42 CFR Part 2 one."""
        return self.substance_use_program or self.part2_program

    def review_interval(self, level: LevelOfCare) -> float:
        return self.review_interval_days.get(level, 7.0)

    def requires_authorization(self, level: LevelOfCare) -> bool:
        return level in self.levels_requiring_authorization
