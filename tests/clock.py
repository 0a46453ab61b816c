"""The clock a test sets or moves by hand (a session's end, a backoff, a message window)
instead of waiting: injected where the code takes a `Callable[[], datetime]`."""

from __future__ import annotations

from datetime import datetime, timedelta


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
