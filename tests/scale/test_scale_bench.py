"""`make bench-scale` at a tiny size, so its code path cannot rot: two worker processes on
one task queue share the episodes, one leaves with SIGTERM while updates run and every
update still answers exactly once (one answer that applied it; one acceptance and one
completion in the history), then a fresh worker answers a cold episode."""

from __future__ import annotations

import pytest

from bench.scale_bench import run_scale_bench

pytestmark = pytest.mark.devserver

FIGURES = (
    "scale_review_p50_ms",
    "scale_review_p99_ms",
    "scale_query_p99_ms",
    "scale_review_p99_ratio",
    "scale_worker_rss_mib",
    "scale_replay_ms_per_event",
    "scale_restart_to_answer_s",
    "scale_dev_server_cpu_pct_measuring",
)


async def test_scale_bench_at_tiny_size_with_a_worker_leaving() -> None:
    figures = await run_scale_bench(
        20,
        workers=2,
        samples=10,
        handover_updates=45,
        graceful_shutdown_seconds=10.0,
        rest_settle_seconds=15,  # the bench waits for the episodes to come to rest
    )
    missing = [name for name in FIGURES if not isinstance(figures.get(name), float)]
    assert not missing, (missing, figures)
    assert len(figures["scale_workers_rss_mib"]) == 2  # both workers reported
    assert figures["scale_worker_rss_mib"] > figures["scale_worker_base_rss_mib"] > 0
    # The worker that left did so cleanly, and nobody's update was lost or refused.
    assert figures["scale_handover_worker_exit_code"] == 0
    assert figures["scale_handover_updates"] == 45
    assert figures["scale_handover_errors"] == 0, figures
    # Exactly once: each caller got one answer that applied its review (not a duplicate),
    # and each update ID was accepted once and completed once in its episode's history.
    assert figures["scale_handover_answered_once"] == 45, figures
    assert figures["scale_handover_applied_once"] == 45, figures
    # The two workers shared the episodes, and some the leaving one held moved over.
    assert figures["scale_handover_workers_serving"] == 2, figures
    assert figures["scale_handover_episodes_moved"] >= 1, figures
    assert figures["scale_restart_to_answer_s"] > 0
