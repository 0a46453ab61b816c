"""Prometheus metrics of the API (`GET /metrics`) and a request ID on every request.

- `carepath_api_requests_total` and `carepath_api_request_duration_seconds`, by method,
  route *template* (`/v1/episodes/{episode_id}`, never the ID itself) and status;
- carepath's own gauges (store/gauges.py), read from PostgreSQL at scrape time.

Each request carries a request ID (the caller's `X-Request-ID` when it is a plain token,
else a fresh one), echoed in the response and put on every log line of the request.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import asyncpg
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from observability.logs import REQUEST_ID
from store.gauges import CareGauges, care_gauges

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID_HEADER = b"x-request-id"
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

GAUGE_HELP = {
    "outbox_pending": "Notifications waiting in the outbox",
    "outbox_oldest_pending_seconds": "Age of the oldest pending notification (0: none)",
    "outbox_failed": "Notifications the outbox gave up on",
    "dispatcher_seconds_since_pass": "Seconds since an outbox dispatcher last completed a pass",
    "parked_batches": "Record batches refused by PostgreSQL, waiting for an operator",
    "open_risk_flags": "Open episodes whose risk flag awaits a safety assessment",
    "authorizations_expiring": "Active authorizations of open episodes ending within the window",
    "followup_job_seconds_since_pass": "Seconds since the follow-up questionnaire job last "
    "completed a pass",
}


class ApiMetrics:
    """One registry per app (tests run several apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter(
            "carepath_api_requests", "HTTP requests answered", labels, registry=self.registry
        )
        self.latency = Histogram(
            "carepath_api_request_duration_seconds",
            "Time to answer an HTTP request",
            labels,
            registry=self.registry,
        )
        self.gauges = {
            name: Gauge(f"carepath_{name}", text, registry=self.registry)
            for name, text in GAUGE_HELP.items()
        }
        self.store_up = Gauge(
            "carepath_gauges_store_up",
            "1 when the gauges could be read from PostgreSQL at this scrape",
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def set_gauges(self, gauges: CareGauges) -> None:
        for name, value in gauges.as_dict().items():
            self.gauges[name].set(float("nan") if value is None else value)


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers") or []:
        if name == _REQUEST_ID_HEADER:
            text = bytes(value).decode("latin-1")
            if _ACCEPTABLE_ID.fullmatch(text):
                return text
    return uuid.uuid4().hex


class MetricsMiddleware:
    """Counts and times each request by its route template; sets and echoes a request ID."""

    def __init__(self, app: Asgi, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = REQUEST_ID.set(request_id)
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers") or [])
                headers.append((_REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        began = time.perf_counter()
        try:
            await self.app(scope, receive, answer)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - began)
            REQUEST_ID.reset(token)


def install_metrics(app: FastAPI, pool: asyncpg.Pool, *, expiring_within_days: int) -> None:
    """`GET /metrics` (Prometheus text format) and the request middleware."""
    metrics = ApiMetrics()

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        try:
            metrics.set_gauges(await care_gauges(pool, expiring_within_days=expiring_within_days))
            metrics.store_up.set(1)
        except (OSError, asyncpg.PostgresError):
            metrics.store_up.set(0)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(MetricsMiddleware, metrics=metrics)
