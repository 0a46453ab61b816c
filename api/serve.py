"""Run the API with uvicorn: connect Temporal and PostgreSQL, then serve until stopped."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from store.pool import open_pool, resolve_dsn
from worker.client import connect
from worker.tracing import trace_app

log = logging.getLogger(__name__)

SETTLE_AT_EXIT_S = 10.0


async def serve(settings: ApiSettings, *, stop: asyncio.Event | None = None) -> None:
    """Serve on settings.api_host:api_port until cancelled (or until `stop` is set)."""
    dsn, _embedded = await resolve_dsn(settings)
    pool = await open_pool(settings, dsn=dsn)
    try:
        client = await connect(settings)
        app = create_app(ApiDeps(client=client, pool=pool, settings=settings))
        if settings.otel_traces_endpoint:
            trace_app(app)  # request spans, parents of the Temporal spans (worker/tracing.py)
        config = uvicorn.Config(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_level=settings.log_level.lower(),
            log_config=None,  # keep the process's logging (worker/logs.py: text or JSON)
            lifespan="off",
        )
        server = uvicorn.Server(config)
        if not settings.api_keys:
            log.warning("no API keys configured (CAREPATH_API_KEYS): every call will be 401")
        serving = asyncio.create_task(server.serve())
        waiter = asyncio.create_task(stop.wait()) if stop is not None else None
        try:
            await asyncio.wait(
                [t for t in (serving, waiter) if t is not None],
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            server.should_exit = True
            await serving
            if waiter is not None:
                waiter.cancel()
            # Answers already sent but not yet stored: a last chance before the pool closes.
            await app.state.services.mutations.settler.drain(SETTLE_AT_EXIT_S)
    finally:
        await pool.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def running_server(app: FastAPI, *, port: int | None = None) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (a free port by default) for a block; yields its base URL.

    For tests and the benchmark, which share one event loop with the worker.
    """
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
