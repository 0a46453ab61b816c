"""`python -m bench`: every benchmark in one run, ONE JSON object on stdout.

Parts: the workflow bench (`workflow`: one Temporal dev server; `workflow_history`: the
time-skipping server), the store bench
(PostgreSQL from DATABASE_URL, else an embedded one), the API bench (same PostgreSQL) and
the codec bench. Everything but the JSON goes to stderr: file descriptor 1 is pointed at
stderr for the whole run, so child processes (the dev server's banner, pgserver) and
stray prints cannot reach stdout. A part that fails or overruns is reported as
`"<part>_error": "<message>"`; the others still run, and the exit status is then 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Generous ceilings per part: the whole run stays well under ~6 minutes on 2 quiet cores (a
# shared, loaded machine takes several times longer).
TIMEOUTS_S = {
    "workflow": 400.0,
    "workflow_history": 90.0,
    "store": 300.0,  # with the outcomes report on 100k episodes
    "api": 300.0,
    "codec": 60.0,
    "channels": 120.0,
}


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import temporalio

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "temporalio": temporalio.__version__,
        "platform": platform.platform(),
    }


class Run:
    """Collects figures, errors and timings from the parts."""

    def __init__(self) -> None:
        self.figures: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.failed = False

    async def part(self, name: str, run: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        began = time.perf_counter()
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        try:
            self.figures.update(await asyncio.wait_for(run(), timeout=TIMEOUTS_S[name]))
        except Exception as failure:  # one part's failure must not lose the others
            self.failed = True
            message = str(failure) or "no message"
            if isinstance(failure, TimeoutError):
                message = f"did not finish within {TIMEOUTS_S[name]:.0f} s"
            self.figures[f"{name}_error"] = f"{type(failure).__name__}: {message}"
            print(f"bench: {name} failed: {message}", file=sys.stderr, flush=True)
        self.timings[name] = round(time.perf_counter() - began, 1)


async def _workflow() -> dict[str, Any]:
    from bench.workflow_bench import run_dev_server_bench

    return dict(await run_dev_server_bench())


async def _workflow_history() -> dict[str, Any]:
    from bench.workflow_bench import run_history_bench

    details: dict[str, object] = {}
    figures: dict[str, Any] = dict(await run_history_bench(details=details))
    return figures | details


async def _codec() -> dict[str, Any]:
    from bench.codec_bench import bench_codec_throughput, bench_episode_start_round_trip

    figures: dict[str, Any] = dict(await bench_codec_throughput())
    figures.update(await bench_episode_start_round_trip())
    return figures


async def collect() -> Run:
    run = Run()
    async with AsyncExitStack() as stack:
        dsn_holder: list[str] = []

        async def database() -> str:
            if dsn_holder:
                return dsn_holder[0]
            from tests.pg import scratch_database

            dsn = stack.enter_context(scratch_database("carepath-bench-"))
            dsn_holder.append(dsn)
            return dsn

        async def store() -> dict[str, Any]:
            from bench.store_bench import run_store_bench

            return dict(await run_store_bench(await database()))

        async def api() -> dict[str, Any]:
            from bench.api_bench import run_api_bench

            return dict(await run_api_bench(database_url=await database()))

        # The store's read latencies first: measured after the workflow parts, whose
        # Temporal runtime threads stay alive in this process, the census p99 picked up
        # their noise (15-25 ms alone, 52-60 ms after them).
        await run.part("store", store)
        await run.part("workflow", _workflow)
        await run.part("workflow_history", _workflow_history)
        await run.part("api", api)

        async def channels() -> dict[str, Any]:
            from bench.channels_bench import run_channels_bench

            return dict(await run_channels_bench(await database()))

        await run.part("channels", channels)
    await run.part("codec", _codec)
    return run


# What one attendance notice can cost the workflow at most: the update, its record batch,
# and one durable timer (a no-show's follow-up).
ACTIONS_PER_NOTICE = 3


def iop_week_figure(figures: dict[str, Any]) -> dict[str, float]:
    """`actions_per_iop_week_4_sessions`: an IOP week's own cost (52-week histories) plus
    what 4 attended sessions add, measured as the notices the rosters sent the workflow."""
    week = figures.get("actions_per_week_in_iop_52w")
    notices = figures.get("iop_notices_per_patient_4_sessions")
    if not isinstance(week, float) or not isinstance(notices, float):
        return {}
    return {"actions_per_iop_week_4_sessions": week + notices * ACTIONS_PER_NOTICE}


def review_target_figures(figures: dict[str, Any]) -> dict[str, float]:
    """Issue 9's target for the API review, from this run's own bare update:
    `api_review_rtt_p99_ms` <= 2 * `bare_update_rtt_p99_ms` + 10."""
    bare = figures.get("bare_update_rtt_p99_ms")
    api = figures.get("api_review_rtt_p99_ms")
    if not isinstance(bare, float) or not isinstance(api, float):
        return {}
    target = 2 * bare + 10
    return {"api_review_rtt_p99_target_ms": target, "api_review_rtt_p99_over_target": api / target}


def main() -> int:
    json_out = os.dup(1)
    os.dup2(2, 1)  # from here on, anything written to stdout lands on stderr
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    run = asyncio.run(collect())
    report = {
        **run.figures,
        **iop_week_figure(run.figures),
        **review_target_figures(run.figures),
        "machine": machine(),
        "measured_at": measured_at,
        "part_seconds": run.timings,
    }
    with os.fdopen(json_out, "w") as out:
        out.write(json.dumps(report, indent=2) + "\n")
    return 1 if run.failed else 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Leave without interpreter finalization: the Temporal core's native threads can
    # abort a finalizing interpreter (PyGILState_Release), which would turn a good run
    # into exit status 134. Every server and temporary folder is already closed above.
    os._exit(code)
