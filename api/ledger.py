"""A mutating call's bookkeeping in PostgreSQL: its Idempotency-Key claim and its audit row.

One round trip before the work (`open`: claim the key and begin the audit row, in one
statement) and one after (`close`: store the answer and finish the audit row; or
`abandon`: release the claim and finish the audit row). The audit row is written only
when the call will run, before Temporal is asked, so no change happens unrecorded.

A claim holds a lease (`KeyRequest.lease_s`). Past it, with no answer stored, a retry of
the same request claims the key again and re-runs the call; the old claim's late answer
or release then changes nothing (`claim_token`).

The statements are the store's (store/call_ledger.py, beside the tables' migrations);
this module decides which to run and what a claim it did not take means.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from api.auth import Guarded, Principal
from api.idempotency import Claim, ClaimOutcome
from store import call_ledger
from store.call_ledger import CallAudit, ClaimRow, KeyClaim


@dataclass(frozen=True)
class CallStart:
    """What the audit row records about a call before it runs: the episode it changes
    and/or the group, session or program (`subject`) it changes."""

    episode_id: str | None
    operation: Guarded
    submission_id: str | None
    principal: Principal
    at: datetime
    subject: str | None = None


@dataclass(frozen=True)
class KeyRequest:
    """An `Idempotency-Key` presented with a request."""

    owner: str
    key: str
    method: str
    path: str
    request_hash: str
    lease_s: float
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def claim(self) -> KeyClaim:
        return KeyClaim(
            owner=self.owner,
            key=self.key,
            method=self.method,
            path=self.path,
            request_hash=self.request_hash,
            token=self.token,
            lease_s=self.lease_s,
        )


@dataclass(frozen=True)
class Opened:
    """The outcome of `open`: the call runs (NEW, with its audit row) or it does not."""

    claim: Claim
    call_id: int | None = None
    key: KeyRequest | None = None


class CallLedger(Protocol):
    async def open(self, call: CallStart, key: KeyRequest | None) -> Opened: ...

    async def close(self, opened: Opened, status_code: int, body: Any, at: datetime) -> None: ...

    async def abandon(self, opened: Opened, status_code: int | None, at: datetime) -> None: ...


class PostgresCallLedger:
    """The ledger on PostgreSQL; its SQL is the store's (store/call_ledger.py)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open(self, call: CallStart, key: KeyRequest | None) -> Opened:
        audit = CallAudit(
            episode_id=call.episode_id,
            subject=call.subject,
            operation=call.operation.value,
            submission_id=call.submission_id,
            actor=call.principal.actor,
            role=call.principal.role.value,
            key_owner=call.principal.owner,
            at=call.at,
        )
        if key is None:
            return Opened(Claim(ClaimOutcome.NEW), await call_ledger.begin_call(self._pool, audit))
        row = await call_ledger.claim_and_begin(self._pool, audit, key.claim())
        if row.call_id is not None:
            return Opened(Claim(ClaimOutcome.NEW), row.call_id, key)
        return Opened(_existing(row, key.request_hash))

    async def close(self, opened: Opened, status_code: int, body: Any, at: datetime) -> None:
        if opened.key is None:
            await call_ledger.finish_call(self._pool, opened.call_id, status_code, at)
            return
        await call_ledger.store_answer_and_finish(
            self._pool, opened.call_id, opened.key.claim(), status_code, body, at
        )

    async def abandon(self, opened: Opened, status_code: int | None, at: datetime) -> None:
        if opened.key is None:
            await call_ledger.finish_call(self._pool, opened.call_id, status_code, at)
            return
        await call_ledger.release_and_finish(
            self._pool, opened.call_id, opened.key.claim(), status_code, at
        )


def _existing(row: ClaimRow, request_hash: str) -> Claim:
    """The answer for a key this request did not claim."""
    if row.request_hash is None:  # claimed by a request that began after this one
        return Claim(ClaimOutcome.IN_FLIGHT)
    if row.request_hash != request_hash:
        return Claim(ClaimOutcome.MISMATCH)
    if row.status_code is None:
        return Claim(ClaimOutcome.IN_FLIGHT, lease_left_s=row.lease_left_s)
    return Claim(ClaimOutcome.REPLAY, row.status_code, row.response_body)
