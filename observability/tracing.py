"""OpenTelemetry traces from the API through Temporal to the activities.

With `CAREPATH_OTEL_TRACES_ENDPOINT` set (an OTLP/HTTP collector, e.g.
`http://otel-collector:4318/v1/traces`) a process exports its spans there: the API's
request spans (FastAPI instrumentation), and, through Temporal's `TracingInterceptor` on
the client (which the worker inherits), the spans of starting and updating workflows, of
the workflow's handlers and of every activity — one trace per request, its context
carried in Temporal headers. Span attributes name workflow IDs (opaque episode IDs) and
routes, never a patient. Unset: nothing is traced or exported.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from config.settings import Settings


def configure_tracing(settings: Settings, service_name: str) -> TracerProvider | None:
    """Install the process-wide tracer provider exporting to the collector, if configured."""
    if not settings.otel_traces_endpoint:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_traces_endpoint))
    )
    trace.set_tracer_provider(provider)
    return provider


def tracing_interceptors(
    settings: Settings, provider: trace.TracerProvider | None = None
) -> list[Interceptor]:
    """Temporal client (and so worker) interceptors: one, when tracing is on."""
    if provider is None and not settings.otel_traces_endpoint:
        return []
    tracer = (provider or trace.get_tracer_provider()).get_tracer("carepath.temporal")
    return [TracingInterceptor(tracer)]


def trace_app(app: FastAPI, provider: trace.TracerProvider | None = None) -> None:
    """Server spans for every API request (the parent of the Temporal spans it causes)."""
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics"
    )
