"""Temporal SDK metrics for Prometheus, through the SDK's runtime telemetry.

With `CAREPATH_METRICS_ADDRESS` set (e.g. `0.0.0.0:9464`) the worker's runtime serves the
SDK's own metrics (task slots, poll and schedule-to-start latencies, activity and workflow
task failures, sticky cache) at `http://ADDRESS/metrics`. Unset, nothing listens.
"""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from config.settings import Settings


def telemetry_runtime(settings: Settings) -> Runtime | None:
    """A runtime exporting Prometheus metrics, or None (the SDK's default runtime)."""
    if not settings.metrics_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=settings.metrics_address,
                # Seconds, as Prometheus convention has it (the SDK's default is ms).
                durations_as_seconds=True,
            ),
            global_tags={"service": "carepath-worker"},
        )
    )
