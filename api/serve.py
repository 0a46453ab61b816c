"""Run the API with uvicorn: connect Temporal and PostgreSQL, then serve until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn

from api.app import create_app
from api.deps import ApiDeps
from api.notice_delivery import NoticeRetry
from api.sessions_ahead import SessionsAhead
from api.settings import ApiSettings
from observability.tracing import trace_app
from store.pool import open_pool
from store.supervise import supervise
from temporal_client import connect

log = logging.getLogger(__name__)

SETTLE_AT_EXIT_S = 10.0


async def serve(settings: ApiSettings, *, stop: asyncio.Event | None = None) -> None:
    """Serve on settings.api_host:api_port until cancelled (or until `stop` is set)."""
    pool = await open_pool(
        settings.require_database_url(),
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        # The API leaves no session state on its connections: a release costs no round
        # trip (store/pool.py; tests/api/test_api_pool_session_state.py).
        reset_sessions=False,
    )
    try:
        client = await connect(settings)
        app = create_app(ApiDeps(client=client, pool=pool, settings=settings))
        if settings.otel_traces_endpoint:
            # Request spans, parents of the Temporal spans (observability/tracing.py).
            trace_app(app)
        config = uvicorn.Config(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_level=settings.log_level.lower(),
            log_config=None,  # keep the process's logging (observability/logs.py: text or JSON)
            lifespan="off",
        )
        server = uvicorn.Server(config)
        if not settings.api_keys:
            log.warning("no API keys configured (CAREPATH_API_KEYS): every call will be 401")
        serving = asyncio.create_task(server.serve())
        waiter = asyncio.create_task(stop.wait()) if stop is not None else None
        background = asyncio.Event()
        services = app.state.services
        retry = NoticeRetry(
            services.episodes,
            pool,
            services.deps.clock,
            interval_s=settings.api_notice_retry_seconds,
        )
        retrying = asyncio.create_task(
            supervise("attendance notice retry", lambda: retry.run(background), stop=background)
        )
        ahead = SessionsAhead(pool, services.deps.clock)
        generating = asyncio.create_task(
            supervise("group sessions ahead", lambda: ahead.run(background), stop=background)
        )
        try:
            await asyncio.wait(
                [t for t in (serving, waiter) if t is not None],
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            server.should_exit = True
            background.set()
            await serving
            with contextlib.suppress(Exception):
                await retrying
            with contextlib.suppress(Exception):
                await generating
            if waiter is not None:
                waiter.cancel()
            # Answers already sent but not yet stored: a last chance before the pool closes.
            await app.state.services.mutations.settler.drain(SETTLE_AT_EXIT_S)
    finally:
        await pool.close()
