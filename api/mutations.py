"""How every mutating call runs: idempotency claim, audit row, the work, the stored answer.

PostgreSQL is asked first; if it is down the call ends in 503 before Temporal is touched,
so nothing is half-done. A 5xx from the work releases the idempotency claim (the client
may retry); any other answer is stored and replayed to a retry with the same key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.audit import CallLog
from api.auth import Operation, Principal
from api.idempotency import ClaimOutcome, IdempotencyStore, request_hash
from api.problems import PROBLEM_MEDIA_TYPE, ApiProblem

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

log = logging.getLogger(__name__)
T = TypeVar("T")

Work = Callable[[], Awaitable[tuple[int, BaseModel]]]


async def records_call(call: Awaitable[T]) -> T:
    """Await a PostgreSQL call; a lost database becomes a 503 problem."""
    try:
        return await call
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as error:
        raise ApiProblem(
            503, "records-unavailable", "the records database is unreachable; nothing was done"
        ) from error
    except asyncpg.CannotConnectNowError as error:  # pragma: no cover - server starting up
        raise ApiProblem(503, "records-unavailable", "the records database is starting") from error


def _json_response(status: int, body: Any, *, replayed: bool = False) -> JSONResponse:
    media = PROBLEM_MEDIA_TYPE if status >= 400 else "application/json"
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return JSONResponse(body, status_code=status, media_type=media, headers=headers)


class Mutations:
    def __init__(
        self, keys: IdempotencyStore, calls: CallLog, clock: Callable[[], datetime]
    ) -> None:
        self._keys = keys
        self._calls = calls
        self._clock = clock

    async def run(
        self,
        request: Request,
        principal: Principal,
        *,
        operation: Operation,
        episode_id: str,
        submission_id: str | None,
        work: Work,
    ) -> JSONResponse:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None:
            if not 1 <= len(key) <= MAX_KEY_LENGTH:
                raise ApiProblem(
                    422, "invalid-idempotency-key", "Idempotency-Key must be 1 to 255 characters"
                )
            claim = await records_call(
                self._keys.claim(
                    principal.owner,
                    key,
                    method=request.method,
                    path=request.url.path,
                    request_hash=request_hash(
                        request.method, request.url.path, await request.body()
                    ),
                )
            )
            if claim.outcome is ClaimOutcome.REPLAY:
                assert claim.status_code is not None
                return _json_response(claim.status_code, claim.body, replayed=True)
            if claim.outcome is ClaimOutcome.MISMATCH:
                raise ApiProblem(
                    422,
                    "idempotency-key-reused",
                    "this Idempotency-Key was already used for a different request",
                )
            if claim.outcome is ClaimOutcome.IN_FLIGHT:
                raise ApiProblem(
                    409, "request-in-progress", "a request with this Idempotency-Key is running"
                )
        try:
            call_id = await records_call(
                self._calls.begin(
                    episode_id=episode_id,
                    operation=operation,
                    submission_id=submission_id,
                    principal=principal,
                    at=self._clock(),
                )
            )
        except BaseException:
            await self._release(principal, key)
            raise
        try:
            status, model = await work()
            body: Any = model.model_dump(mode="json")
        except ApiProblem as problem:
            await self._finish(call_id, problem.status)
            if problem.status >= 500:
                await self._release(principal, key)
                raise
            status = problem.status
            body = problem.to_problem(request.url.path).model_dump(mode="json", exclude_none=True)
        except BaseException:
            await self._release(principal, key)
            raise
        else:
            await self._finish(call_id, status)
        if key is not None:
            try:
                await self._keys.complete(principal.owner, key, status, body)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("idempotency answer not stored for %s", operation.value)
        return _json_response(status, body)

    async def _finish(self, call_id: int, status: int) -> None:
        try:
            await self._calls.finish(call_id, status_code=status, at=self._clock())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("audit row %s left unfinished", call_id)

    async def _release(self, principal: Principal, key: str | None) -> None:
        if key is None:
            return
        try:
            await self._keys.release(principal.owner, key)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("idempotency claim not released")
