"""When a patient may be messaged: quiet hours in the patient's own time zone and a rate
limit. Pure rules (no I/O); the numbers are a program's policy (`ProgramPolicy.messaging`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from schemas.text import PlainText

DEFAULT_TIME_ZONE = "America/New_York"


class RecipientKind(StrEnum):
    """Who a message is for, where a program chooses the route (the values are those of
    `schemas.records.Recipient`; tests/channels/test_routing_policy.py pins that)."""

    PATIENT = "patient"
    CARE_TEAM = "care_team"
    SUPERVISOR = "supervisor"


class Route(StrEnum):
    """How a message leaves: the clinic's webhook, email, or SMS (patients only)."""

    PREFERRED = "preferred"  # a patient: SMS or email, whichever they prefer and consented to
    SMS = "sms"
    EMAIL = "email"
    WEBHOOK = "webhook"


# The routes a program may choose per recipient kind, and the default (today's behaviour).
ROUTES_ALLOWED: Final[Mapping[RecipientKind, tuple[frozenset[Route], Route]]] = {
    RecipientKind.PATIENT: (
        frozenset({Route.PREFERRED, Route.SMS, Route.EMAIL, Route.WEBHOOK}),
        Route.PREFERRED,
    ),
    RecipientKind.CARE_TEAM: (frozenset({Route.WEBHOOK, Route.EMAIL}), Route.WEBHOOK),
    RecipientKind.SUPERVISOR: (frozenset({Route.WEBHOOK, Route.EMAIL}), Route.WEBHOOK),
}
# A staff kind's email addresses, when its route is email.
_ADDRESSES: Final[Mapping[str, RecipientKind]] = {
    "care_team_email": RecipientKind.CARE_TEAM,
    "supervisor_email": RecipientKind.SUPERVISOR,
}


class RecipientRoutes(BaseModel):
    """The program's route per recipient kind (`ROUTES_ALLOWED`), with the staff addresses
    an email route needs. Other recipients (utilization review, operators) use the webhook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    patient: Route = ROUTES_ALLOWED[RecipientKind.PATIENT][1]
    care_team: Route = ROUTES_ALLOWED[RecipientKind.CARE_TEAM][1]
    supervisor: Route = ROUTES_ALLOWED[RecipientKind.SUPERVISOR][1]
    care_team_email: tuple[PlainText, ...] = Field(
        default=(), max_length=20, validate_default=True, description="when care_team is email"
    )
    supervisor_email: tuple[PlainText, ...] = Field(
        default=(), max_length=20, validate_default=True, description="when supervisor is email"
    )

    @field_validator("patient", "care_team", "supervisor")
    @classmethod
    def _allowed_for_the_kind(cls, route: Route, info: ValidationInfo) -> Route:
        assert info.field_name is not None
        allowed, _ = ROUTES_ALLOWED[RecipientKind(info.field_name)]
        if route not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise ValueError(f"{route.value} is not a route for {info.field_name} ({names})")
        return route

    @field_validator("care_team_email", "supervisor_email")
    @classmethod
    def _addresses_for_an_email_route(
        cls, addresses: tuple[str, ...], info: ValidationInfo
    ) -> tuple[str, ...]:
        assert info.field_name is not None
        kind = _ADDRESSES[info.field_name]
        if any("@" not in a or len(a) > 254 or a != a.strip() for a in addresses):
            raise ValueError("each entry must be an email address")
        if info.data.get(kind.value) is Route.EMAIL and not addresses:
            raise ValueError(f"{kind.value} is sent by email: give one or more addresses")
        return addresses

    def route_for(self, kind: RecipientKind) -> Route:
        route: Route = getattr(self, kind.value)
        return route

    def addresses_for(self, kind: RecipientKind) -> tuple[str, ...]:
        """The email addresses of a staff kind (empty for the patient: theirs is on file)."""
        return next((getattr(self, f) for f, k in _ADDRESSES.items() if k is kind), ())


class MessagingPolicy(BaseModel):
    """Quiet hours (local clock hours, start > end means overnight) and a rate limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quiet_hours_start: int = Field(default=21, ge=0, le=23, description="local hour quiet begins")
    quiet_hours_end: int = Field(default=8, ge=0, le=23, description="local hour quiet ends")
    max_messages: int = Field(default=3, ge=1, le=100, description="per patient per window")
    rate_window_hours: float = Field(default=24, gt=0, le=24 * 7)
    questionnaire_link_days: float = Field(
        default=4, gt=0, le=30, description="how long a questionnaire link stays open"
    )
    questionnaire_reminder_days: float = Field(
        default=2,
        ge=0,
        le=30,
        description="one reminder this long after the link went out, if still unanswered (0: none)",
    )
    questionnaire_asks_birth_date: bool = Field(
        default=True, description="the questionnaire page asks the date of birth first"
    )
    questionnaire_wrong_birth_dates: int = Field(
        default=5, ge=1, le=20, description="wrong dates of birth that lock the link"
    )
    routes: RecipientRoutes = Field(
        default_factory=RecipientRoutes, description="the route per recipient kind"
    )
    # The care team's follow-through (store-side ladder, `task_ladder`): an urgent
    # message unacknowledged, or a call-back task not done, this long after it opened goes
    # to the supervisor; the repeat later, to the supervisor and the care team again.
    urgent_ack_minutes: float = Field(default=60, ge=5, le=24 * 60)
    urgent_ack_repeat_minutes: float = Field(default=60, ge=5, le=24 * 60)
    callback_minutes: float = Field(
        default=60, ge=5, le=24 * 60, description="a patient's item 9 call-back is due within"
    )
    callback_repeat_minutes: float = Field(default=60, ge=5, le=24 * 60)

    @model_validator(mode="after")
    def _reminder_inside_the_link_lifetime(self) -> MessagingPolicy:
        if self.questionnaire_reminder_days >= self.questionnaire_link_days:
            raise ValueError(
                "questionnaire_reminder_days must be shorter than questionnaire_link_days "
                "(a reminder for a closed link reaches nobody)"
            )
        return self

    @property
    def questionnaire_reminder_delay(self) -> timedelta | None:
        """When the one reminder goes after the link's first message; None for no reminder."""
        days = self.questionnaire_reminder_days
        return timedelta(days=days) if days > 0 else None

    @property
    def rate_window(self) -> timedelta:
        return timedelta(hours=self.rate_window_hours)

    @property
    def questionnaire_link_lifetime(self) -> timedelta:
        return timedelta(days=self.questionnaire_link_days)


def zone(name: str | None) -> ZoneInfo:
    """The patient's IANA zone; an unknown or missing one falls back to the default."""
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def _in_quiet(hour: int, policy: MessagingPolicy) -> bool:
    start, end = policy.quiet_hours_start, policy.quiet_hours_end
    if start == end:
        return False
    if start > end:  # overnight, e.g. 21 → 8
        return hour >= start or hour < end
    return start <= hour < end


def quiet_until(now: datetime, tz: ZoneInfo, policy: MessagingPolicy) -> datetime | None:
    """None when a message may go now; otherwise the instant quiet hours end (aware)."""
    local = now.astimezone(tz)
    if not _in_quiet(local.hour, policy):
        return None
    day = local.date()
    if local.hour >= policy.quiet_hours_end and policy.quiet_hours_start > policy.quiet_hours_end:
        day += timedelta(days=1)  # evening: quiet ends tomorrow morning
    end = datetime.combine(day, time(policy.quiet_hours_end), tzinfo=tz)
    return end.astimezone(now.tzinfo)


def rate_limited_until(
    recent_sends: list[datetime], now: datetime, policy: MessagingPolicy
) -> datetime | None:
    """None while fewer than `max_messages` went out in the window; otherwise when the
    oldest of them leaves the window."""
    window_start = now - policy.rate_window
    inside = sorted(t for t in recent_sends if t > window_start)
    if len(inside) < policy.max_messages:
        return None
    return inside[len(inside) - policy.max_messages] + policy.rate_window


# ------------------------------------------------------------ the care team's follow-through


class TaskKind(StrEnum):
    """What the care team owes after an urgent message: an acknowledgement (who saw it and
    what was done) or, after a patient-reported PHQ-9 item 9 above zero, a call-back."""

    ACKNOWLEDGEMENT = "acknowledgement"
    CALLBACK = "callback"


class CallbackOutcome(StrEnum):
    REACHED = "reached"
    NOT_REACHED = "not_reached"
    LEFT_MESSAGE = "left_message"


class AckBy(StrEnum):
    """Who keeps an urgent care-team message's acknowledgement."""

    STORE = "store"  # an acknowledgement row and the store's ladder (`task_ladder`)
    ENGINE = "engine"  # the workflow's `acknowledge_alert` while it waits for one
    NONE = "none"  # a reminder of something already awaiting (an escalation step)


@dataclass(frozen=True)
class UrgentKind:
    label: str
    ack: AckBy = AckBy.STORE


# Urgent messages to the care team by template: every one needs an acknowledgement, kept
# where `ack` says; a template not listed is acknowledged in the store (`urgent_kind`).
URGENT_KINDS: Final[Mapping[str, UrgentKind]] = {
    # The risk flag's alert while the engine waits for its acknowledgement (the episode's
    # `risk_unacknowledged`); a later one with the flag already acknowledged (a new item 9,
    # a moderate C-SSRS) is acknowledged here.
    "safety_alert": UrgentKind("Safety alert", AckBy.ENGINE),
    "episode_closed": UrgentKind("Episode closed with the risk flag open"),
    "withdrawn_with_risk_open": UrgentKind("Withdrawn with the risk flag open"),
    "referral_needed": UrgentKind("Referral needed with the risk flag open"),
    "referred_out": UrgentKind("Referred out to a higher level of care"),
    "no_show_risk_open": UrgentKind("No-show with the risk flag open"),
    "followup_due": UrgentKind("Follow-up visit due after discharge"),
    "quality_window_closing": UrgentKind("A quality-measure window closes soon"),
    "level_of_care_review_recommended": UrgentKind("Level-of-care review recommended"),
    "week_below_minimum": UrgentKind("Week below the level's minimum hours"),
    # Escalation steps: reminders of an alert, a flag or a task that is itself awaited.
    "risk_unassessed": UrgentKind("Risk flag still unassessed", AckBy.NONE),
    "risk_alert_unacknowledged": UrgentKind("Risk alert still unacknowledged", AckBy.NONE),
    "urgent_message_unacknowledged": UrgentKind("Urgent message unacknowledged", AckBy.NONE),
    "callback_overdue": UrgentKind("Call-back task overdue", AckBy.NONE),
    "urgent_message_undeliverable": UrgentKind("Urgent message undeliverable", AckBy.NONE),
}
# The escalation templates the store's ladder sends, per task kind.
ESCALATION_TEMPLATES: Final[Mapping[TaskKind, str]] = {
    TaskKind.ACKNOWLEDGEMENT: "urgent_message_unacknowledged",
    TaskKind.CALLBACK: "callback_overdue",
}


def urgent_kind(template: str) -> UrgentKind:
    return URGENT_KINDS.get(template) or UrgentKind(template.replace("_", " ").capitalize())


# One step: when, and who is told.
TaskRung = tuple[datetime, tuple[RecipientKind, ...]]


def task_minutes(policy: MessagingPolicy, kind: TaskKind) -> tuple[float, float]:
    if kind is TaskKind.CALLBACK:
        return policy.callback_minutes, policy.callback_repeat_minutes
    return policy.urgent_ack_minutes, policy.urgent_ack_repeat_minutes


def task_ladder(opened_at: datetime, first_minutes: float, repeat_minutes: float) -> list[TaskRung]:
    """The engine's risk-alert ladder, store-side: the supervisor after `first_minutes`,
    then the supervisor and the care team `repeat_minutes` later."""
    first = opened_at + timedelta(minutes=first_minutes)
    again = first + timedelta(minutes=repeat_minutes)
    return [
        (first, (RecipientKind.SUPERVISOR,)),
        (again, (RecipientKind.SUPERVISOR, RecipientKind.CARE_TEAM)),
    ]
