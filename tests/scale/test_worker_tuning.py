"""Worker tuning from settings: the cache holds what the memory budget allows unless set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import Settings
from config.tuning import MAX_CACHED, MIB_PER_CACHED_EPISODE, MIN_CACHED, WORKER_BASE_MIB


def test_the_cache_is_derived_from_the_memory_budget() -> None:
    tuning = Settings(worker_memory_budget_mib=400).worker_tuning()
    expected = int((400 - WORKER_BASE_MIB) / MIB_PER_CACHED_EPISODE)
    assert tuning.max_cached_workflows == expected
    # What the cache may hold fits the budget with the worker's own footprint.
    held = WORKER_BASE_MIB + tuning.max_cached_workflows * MIB_PER_CACHED_EPISODE
    assert held <= 400 < held + 2 * MIB_PER_CACHED_EPISODE
    double = Settings(worker_memory_budget_mib=800).worker_tuning()
    assert double.max_cached_workflows == min(
        MAX_CACHED, int((800 - WORKER_BASE_MIB) / MIB_PER_CACHED_EPISODE)
    )
    assert Settings(worker_memory_budget_mib=50).worker_tuning().max_cached_workflows == MIN_CACHED


def test_set_values_win_and_bad_ones_are_refused() -> None:
    tuning = Settings(
        max_cached_workflows=250, max_concurrent_workflow_tasks=20, max_concurrent_activities=8
    ).worker_tuning()
    assert (
        tuning.max_cached_workflows,
        tuning.max_concurrent_workflow_tasks,
        tuning.max_concurrent_activities,
    ) == (250, 20, 8)
    for bad in (
        {"worker_memory_budget_mib": 0},
        {"max_concurrent_workflow_tasks": 1},  # the SDK needs 2 (sticky + normal poller)
        {"history_event_limit": 10},
    ):
        with pytest.raises(ValidationError):
            Settings(**bad)  # type: ignore[arg-type]
