"""How every mutating call runs: claim + audit row, the work, stored answer + finished row.

PostgreSQL is asked first (`CallLedger.open`, one round trip); if it is down the call ends
in 503 before Temporal is touched, so nothing is half-done. A 5xx from the work releases
the claim (the client may retry at once); any other answer is stored and replayed to a
retry with the same key (`close`, one round trip). When PostgreSQL fails just after the
work was done, the answer still goes out, and storing it and finishing the audit row are
retried in the background (`Settler`), so neither the key nor the row stays open.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.auth import Guarded, Principal
from api.idempotency import MAX_KEY_LENGTH, ClaimOutcome, request_hash, valid_key
from api.ledger import CallLedger, CallStart, KeyRequest, Opened
from api.outages import is_records_outage, records_unavailable
from api.problems import PROBLEM_MEDIA_TYPE, ApiProblem

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

log = logging.getLogger(__name__)
T = TypeVar("T")

Work = Callable[[], Awaitable[tuple[int, BaseModel]]]


# How long a client waits on PostgreSQL (the same as on a Temporal call by default): a
# server that stopped answering without closing its connections is an outage too.
RECORDS_TIMEOUT_S = 10.0


async def records_call(call: Awaitable[T], *, timeout_s: float = RECORDS_TIMEOUT_S) -> T:
    """Await a PostgreSQL call; a lost, or silent, database becomes a 503 problem."""
    try:
        async with asyncio.timeout(timeout_s):
            return await call
    except Exception as error:
        if is_records_outage(error):
            raise records_unavailable(
                "the records database is unreachable; nothing was done"
            ) from error
        raise


def _json_response(status: int, body: Any, *, replayed: bool = False) -> JSONResponse:
    media = PROBLEM_MEDIA_TYPE if status >= 400 else "application/json"
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return JSONResponse(body, status_code=status, media_type=media, headers=headers)


class Settler:
    """Retries, in the background, the bookkeeping of calls whose answer already went out.

    Each step is retried with a growing backoff while PostgreSQL is unreachable, for at
    most `give_up_after_s`; every failure that is not an outage is logged with its
    traceback and ends the retries (retrying would not help).
    """

    def __init__(self, give_up_after_s: float, first_wait_s: float = 0.5) -> None:
        self._give_up_after_s = give_up_after_s
        self._first_wait_s = first_wait_s
        self._running: set[asyncio.Task[None]] = set()

    def later(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.create_task(self._retry(what, step))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def drain(self, timeout_s: float | None = None) -> None:
        """Wait for every pending step (tests, and a graceful shutdown); past `timeout_s`
        the rest are cancelled (their keys free themselves when the lease runs out)."""
        try:
            async with asyncio.timeout(timeout_s):
                while self._running:
                    await asyncio.gather(*self._running, return_exceptions=True)
        except TimeoutError:
            left = list(self._running)
            log.warning("%d answers not stored at shutdown", len(left))
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)

    async def _retry(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        clock = asyncio.get_running_loop().time
        deadline = clock() + self._give_up_after_s
        wait = self._first_wait_s
        while True:
            await asyncio.sleep(min(wait, max(deadline - clock(), 0)))
            try:
                async with asyncio.timeout(RECORDS_TIMEOUT_S):
                    await step()
                log.info("%s done after PostgreSQL came back", what)
                return
            except Exception as error:
                if not is_records_outage(error):
                    log.exception("%s failed", what)
                    return
                if clock() >= deadline:
                    log.error("%s given up: PostgreSQL unreachable for too long", what)
                    return
            wait = min(wait * 2, 30.0)


class Mutations:
    def __init__(
        self,
        ledger: CallLedger,
        clock: Callable[[], datetime],
        *,
        lease_s: float,
        settler: Settler,
        timeout_s: float = RECORDS_TIMEOUT_S,
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._lease_s = lease_s
        self._timeout_s = timeout_s
        self.settler = settler

    async def _key_request(self, request: Request, principal: Principal) -> KeyRequest | None:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return None
        if not valid_key(key):
            raise ApiProblem(
                422,
                "invalid-idempotency-key",
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            )
        return KeyRequest(
            owner=principal.owner,
            key=key,
            method=request.method,
            path=request.url.path,
            request_hash=request_hash(request.method, request.url.path, await request.body()),
            lease_s=self._lease_s,
        )

    async def run(
        self,
        request: Request,
        principal: Principal,
        *,
        operation: Guarded,
        episode_id: str | None,
        submission_id: str | None,
        work: Work,
        subject: str | None = None,
    ) -> JSONResponse:
        """Run `work` once per Idempotency-Key, audited. The audit row names the episode
        changed, or (a group, session or program write) the `subject` changed, or both."""
        if episode_id is None and subject is None:
            raise ValueError("a mutating call names an episode or a subject")
        key = await self._key_request(request, principal)
        call = CallStart(
            episode_id, operation, submission_id, principal, self._clock(), subject=subject
        )
        opened = await records_call(self._ledger.open(call, key), timeout_s=self._timeout_s)
        claim = opened.claim
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
            wait = max(1, math.ceil(claim.lease_left_s or 1))
            raise ApiProblem(
                409,
                "request-in-progress",
                "a request with this Idempotency-Key is running; retry with the same key "
                f"(it is free again in at most {wait} s if that request never finishes)",
                headers={"Retry-After": str(wait)},
            )
        try:
            status, model = await work()
            body: Any = model.model_dump(mode="json")
        except ApiProblem as problem:
            if problem.status >= 500:
                await self._abandon(opened, problem.status)
                raise
            status = problem.status
            body = problem.to_problem(request.url.path).model_dump(mode="json", exclude_none=True)
        except asyncio.CancelledError:
            await self._abandon(opened, None)  # the client went away; nothing was answered
            raise
        except BaseException:
            await self._abandon(opened, 500)
            raise
        await self._close(opened, status, body, operation)
        return _json_response(status, body)

    async def _close(self, opened: Opened, status: int, body: Any, operation: Guarded) -> None:
        at = self._clock()
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._ledger.close(opened, status, body, at)
        except Exception as error:
            if not is_records_outage(error):  # a bug: the answer still goes out
                log.exception("answer to %s not stored", operation.value)
                return
            log.warning("answer to %s not stored yet (PostgreSQL unreachable)", operation.value)
            self.settler.later(
                f"storing the answer to {operation.value}",
                lambda: self._ledger.close(opened, status, body, at),
            )

    async def _abandon(self, opened: Opened, status: int | None) -> None:
        at = self._clock()
        try:
            await asyncio.shield(self._ledger.abandon(opened, status, at))
            return
        except asyncio.CancelledError:
            pass  # cancelled while releasing: finish it in the background
        except Exception as error:
            if not is_records_outage(error):
                log.exception("releasing a claim failed")
                return
        self.settler.later("releasing a claim", lambda: self._ledger.abandon(opened, status, at))
