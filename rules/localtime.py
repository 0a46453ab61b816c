"""A program's local calendar: days are local calendar days in its IANA time zone.

Pure arithmetic on aware datetimes (UTC in, UTC out). "N days later" keeps the local
wall-clock time across a DST change; a day ends at local midnight.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA zone, or ValueError for a name the zone database does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as unknown:
        raise ValueError(f"unknown IANA time zone {name!r}") from unknown


def local_date(at: datetime, tz: str) -> date:
    return at.astimezone(zone(tz)).date()


def local_midnight_after(day: date, tz: str) -> datetime:
    """The first instant after `day` ends locally (an authorization's last day, say)."""
    nxt = day + timedelta(days=1)
    return datetime.combine(nxt, time(0), tzinfo=zone(tz)).astimezone(UTC)


def end_of_local_day(at: datetime, tz: str) -> datetime:
    return local_midnight_after(local_date(at, tz), tz)


def add_local_days(at: datetime, days: float, tz: str) -> datetime:
    """`days` later on the local wall clock (the same local time across DST)."""
    z = zone(tz)
    wall = at.astimezone(z).replace(tzinfo=None) + timedelta(days=days)
    return wall.replace(tzinfo=z).astimezone(UTC)


def into_window(at: datetime, tz: str, opens: float, closes: float) -> datetime:
    """`at`, or the next moment the local window [opens, closes) hours is open."""
    z = zone(tz)
    local = at.astimezone(z)
    hour = local.hour + local.minute / 60 + local.second / 3600
    if opens <= hour < closes:
        return at
    day = local.date() if hour < opens else local.date() + timedelta(days=1)
    opening = datetime.combine(day, time(0)) + timedelta(hours=opens)
    return opening.replace(tzinfo=z).astimezone(UTC)
