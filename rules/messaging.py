"""When a patient may be messaged: quiet hours in the patient's own time zone and a rate
limit. Pure rules (no I/O); the numbers are a program's policy (`ProgramPolicy.messaging`).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_TIME_ZONE = "America/New_York"


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
