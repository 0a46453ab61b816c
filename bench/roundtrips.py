"""Every statement a pool sends PostgreSQL, by kind, with its time (asyncpg's query logger):
what the API and app benchmarks count round trips with."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import asyncpg
from asyncpg.connection import LoggedQuery


@dataclass
class RoundTrips:
    """Every statement sent on the connections it watches, by kind, with its time."""

    count: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def seen(self, query: LoggedQuery) -> None:
        words = query.query.split()
        kind = " ".join(words[:3]) if words else "?"
        self.count += 1
        self.kinds[kind] += 1
        self.seconds[kind] = self.seconds.get(kind, 0.0) + query.elapsed

    async def watch(self, conn: asyncpg.Connection) -> None:
        """A pool's `init`: log every statement of each new connection."""
        conn.add_query_logger(self.seen)

    def since(self, before: RoundTrips) -> RoundTrips:
        seconds = {k: v - before.seconds.get(k, 0.0) for k, v in self.seconds.items()}
        return RoundTrips(self.count - before.count, self.kinds - before.kinds, seconds)

    def copy(self) -> RoundTrips:
        return RoundTrips(self.count, Counter(self.kinds), dict(self.seconds))

    def report(self, per: int) -> str:
        """`kind count-per-call (mean ms)`, most frequent first."""
        return ", ".join(
            f"{kind} {count / per:.2f} ({self.seconds[kind] / count * 1000:.2f} ms)"
            for kind, count in self.kinds.most_common()
        )
