"""Which errors mean "PostgreSQL or Temporal is unreachable", and the 503 they become.

One classification for every path (routes, idempotency, audit, reads, the program
lookup): an outage is 503 with `Retry-After`, never 500. Anything else unexpected stays a
500 and is logged with its traceback.
"""

from __future__ import annotations

import logging

import asyncpg
from asyncpg import exceptions as pg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import ApiProblem, problem_response

RETRY_AFTER_S = 5
RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_S)}

# Server gone, going, starting, overloaded, or the connection lost mid-call.
_RECORDS_DOWN: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable, and every timeout (TimeoutError is an OSError)
    asyncpg.PostgresConnectionError,  # 08xxx, e.g. ConnectionDoesNotExistError
    pg.OperatorInterventionError,  # 57xxx: AdminShutdown, CrashShutdown, CannotConnectNow
    pg.InsufficientResourcesError,  # 53xxx: too many connections, out of memory or disk
    pg.ReadOnlySQLTransactionError,  # a failover left us on a standby
    asyncpg.InternalClientError,  # "cannot switch to state N": the connection broke mid-call
)
# Our own mistakes, not outages, even though asyncpg files them under InterfaceError.
_CLIENT_BUGS: tuple[type[BaseException], ...] = (
    pg.DataError,
    pg.ClientConfigurationError,
    pg.UnsupportedClientFeatureError,
)

_TEMPORAL_DOWN = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
}

log = logging.getLogger(__name__)


def is_records_outage(error: BaseException) -> bool:
    if isinstance(error, _CLIENT_BUGS):
        return False
    # InterfaceError: "connection is closed", "pool is closing", "another operation is in
    # progress" after a broken call.
    return isinstance(error, (*_RECORDS_DOWN, asyncpg.InterfaceError))


def is_temporal_outage(error: BaseException) -> bool:
    if isinstance(error, RPCTimeoutOrCancelledError):
        return True
    if isinstance(error, RPCError):
        return error.status in _TEMPORAL_DOWN
    # The SDK raises RuntimeError('Failed client connect ...') when it cannot connect.
    return isinstance(error, RuntimeError) and "client connect" in str(error).lower()


def records_unavailable(detail: str = "the records database is unreachable") -> ApiProblem:
    return ApiProblem(503, "records-unavailable", detail, headers=RETRY_AFTER)


def temporal_unavailable(detail: str = "Temporal is unreachable") -> ApiProblem:
    return ApiProblem(503, "workflows-unavailable", detail, headers=RETRY_AFTER)


def outage_problem(error: BaseException) -> ApiProblem | None:
    """The 503 for an outage error (looking through its causes), or None."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return None
        if is_records_outage(seen):
            return records_unavailable()
        if is_temporal_outage(seen):
            return temporal_unavailable()
        seen = seen.__cause__ or seen.__context__
    return None


def install_outage_handlers(app: FastAPI) -> None:
    """Errors that escaped a route: an outage is 503, anything else a logged 500.

    Registered for the error families an outage raises (handled inside the app), and for
    Exception itself, which also covers an error raised in a middleware.
    """

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        problem = outage_problem(exc)
        if problem is None:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            problem = ApiProblem(500, "internal", "an unexpected error")
        else:
            log.warning("%s on %s %s: %r", problem.slug, request.method, request.url.path, exc)
        return problem_response(problem.to_problem(request.url.path), problem.headers)

    for kind in (
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        RPCError,
        RPCTimeoutOrCancelledError,
        RuntimeError,
        Exception,
    ):
        app.add_exception_handler(kind, on_error)
