"""How many episodes a worker keeps cached, from its memory budget.

A cached episode answers an update or a query at once; an episode that is not cached
replays its history first (cost per history event: `scale_replay_ms_per_event` in
BENCHMARKS.md), and with more open episodes than cache slots most updates pay it. So the
cache should hold every open episode the worker serves, as far as memory allows:

    cache slots = (memory budget - the worker's own footprint) / memory per cached episode

with the two memory figures measured by `make bench-scale` (a worker process with nothing
cached, and the growth of its RSS per cached in-treatment episode).
"""

from __future__ import annotations

from dataclasses import dataclass

# Measured by `make bench-scale` (bench/scale_bench.py) on the 2-core machine of
# BENCHMARKS.md "At scale": RSS of a polling worker before any episode (73-75 MiB), and its
# growth per in-treatment episode held in the cache: 0.21-0.23 MiB from 500 to 1,100
# cached (2026-12-01), 0.28 MiB with 1,477 cached among 10,000 open (2026-12-02, RSS
# 459 MiB against the 400 MiB budget). The larger figure holds: with the default 400 MiB
# budget, about 1,160 episodes cached.
WORKER_BASE_MIB = 75.0
MIB_PER_CACHED_EPISODE = 0.28
MIN_CACHED = 100
MAX_CACHED = 50_000
# A run continues as new past this many history events: the bound on what a cold episode
# replays before it answers. One default for the API's starts, the client helper and the
# benchmarks, so the figures in BENCHMARKS.md are those of the shipped setting.
HISTORY_EVENT_LIMIT = 500
# Engine V5: how long a run stays quiet before it continues as new (carried in each run's
# input, so changing it changes no running episode's commands).
REST_SETTLE_SECONDS = 120.0
# Engine V5: a run comes to rest only once it holds this many events. Each continue-as-new
# costs Temporal ~4 actions (run start, patch marker, search attributes, the settle timer);
# at the IOP week's ~30 events this is one every few weeks (BENCHMARKS.md "Cold episodes"),
# and a cold episode replays at most about this many events (or the history limit's).
REST_AFTER_EVENTS = 150


@dataclass(frozen=True)
class WorkerTuning:
    """What `build_worker` passes to the Temporal SDK's `Worker`."""

    max_cached_workflows: int
    max_concurrent_workflow_tasks: int
    max_concurrent_activities: int


def cache_slots(
    memory_budget_mib: float,
    *,
    base_mib: float = WORKER_BASE_MIB,
    per_episode_mib: float = MIB_PER_CACHED_EPISODE,
) -> int:
    """Cache slots that fit `memory_budget_mib` (within MIN_CACHED..MAX_CACHED)."""
    room = (memory_budget_mib - base_mib) / per_episode_mib
    return int(max(MIN_CACHED, min(MAX_CACHED, room)))
