"""Quiet hours in the patient's own zone (across midnight and DST) and the rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rules.messaging import MessagingPolicy, quiet_until, rate_limited_until, zone

POLICY = MessagingPolicy()
NEW_YORK = zone("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_daytime_is_not_quiet() -> None:
    assert quiet_until(utc(2025, 1, 15, 14, 0), NEW_YORK, POLICY) is None  # 09:00 local
    assert quiet_until(utc(2025, 1, 16, 1, 59), NEW_YORK, POLICY) is None  # 20:59 local


def test_evening_waits_for_tomorrow_eight_local() -> None:
    assert quiet_until(utc(2025, 1, 16, 2, 0), NEW_YORK, POLICY) == utc(2025, 1, 16, 13, 0)


def test_early_morning_waits_for_eight_the_same_day() -> None:
    assert quiet_until(utc(2025, 1, 16, 10, 0), NEW_YORK, POLICY) == utc(2025, 1, 16, 13, 0)


def test_the_night_clocks_spring_forward_ends_at_eight_daylight_time() -> None:
    # 2025-03-09: 02:00 EST → 03:00 EDT; 08:00 EDT is 12:00 UTC.
    assert quiet_until(utc(2025, 3, 9, 3, 0), NEW_YORK, POLICY) == utc(2025, 3, 9, 12, 0)


def test_a_same_day_window_and_no_window() -> None:
    lunch = MessagingPolicy(quiet_hours_start=12, quiet_hours_end=13)
    assert quiet_until(utc(2025, 1, 15, 17, 30), NEW_YORK, lunch) == utc(2025, 1, 15, 18, 0)
    never = MessagingPolicy(quiet_hours_start=0, quiet_hours_end=0)
    assert quiet_until(utc(2025, 1, 16, 3, 0), NEW_YORK, never) is None


def test_unknown_zone_falls_back_to_the_default() -> None:
    assert zone("Not/AZone") == NEW_YORK and zone(None) == NEW_YORK


def test_rate_limit_frees_when_the_oldest_leaves_the_window() -> None:
    now = utc(2025, 1, 15, 12, 0)
    sends = [now - timedelta(hours=h) for h in (1, 5, 23)]
    assert rate_limited_until(sends, now, POLICY) == now + timedelta(hours=1)
    assert rate_limited_until(sends[:2], now, POLICY) is None
    old = [now - timedelta(hours=25)] * 5
    assert rate_limited_until(old, now, POLICY) is None
