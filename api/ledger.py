"""A mutating call's bookkeeping in PostgreSQL: its Idempotency-Key claim and its audit row.

One round trip before the work (`open`: claim the key and begin the audit row, in one
statement) and one after (`close`: store the answer and finish the audit row; or
`abandon`: release the claim and finish the audit row). The audit row is written only
when the call will run, before Temporal is asked, so no change happens unrecorded.

A claim holds a lease (`KeyRequest.lease_s`). Past it, with no answer stored, a retry of
the same request claims the key again and re-runs the call; the old claim's late answer
or release then changes nothing (`claim_token`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from api.auth import Guarded, Principal
from api.idempotency import Claim, ClaimOutcome


@dataclass(frozen=True)
class CallStart:
    """What the audit row records about a call before it runs."""

    episode_id: str
    operation: Guarded
    submission_id: str | None
    principal: Principal
    at: datetime


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


_BEGIN = """
INSERT INTO api_calls (episode_id, operation, submission_id, actor, role, key_owner, at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id
"""

# Claim (a new row, or one whose lease ran out for this same request) and, only if the
# claim was taken, begin the audit row. The outer SELECT sees the row as it was before
# this statement: a key that was not claimed is answered from it.
_CLAIM_AND_BEGIN = """
WITH claimed AS (
    INSERT INTO api_idempotency AS k (key_owner, idempotency_key, method, path, request_hash,
        claim_token, lease_expires_at)
    VALUES ($6, $8, $9, $10, $11, $12, now() + make_interval(secs => $13))
    ON CONFLICT (key_owner, idempotency_key) DO UPDATE
        SET claim_token = EXCLUDED.claim_token, lease_expires_at = EXCLUDED.lease_expires_at
        WHERE k.status_code IS NULL AND k.lease_expires_at <= now()
            AND k.request_hash = EXCLUDED.request_hash
    RETURNING k.claim_token
), began AS (
    INSERT INTO api_calls (episode_id, operation, submission_id, actor, role, key_owner, at)
    SELECT $1, $2, $3, $4, $5, $6, $7 FROM claimed
    RETURNING id
)
SELECT (SELECT id FROM began) AS call_id, k.request_hash, k.status_code, k.response_body,
    greatest(0, extract(epoch FROM k.lease_expires_at - now()))::float8 AS lease_left_s
FROM (SELECT 1) AS one
LEFT JOIN api_idempotency AS k ON k.key_owner = $6 AND k.idempotency_key = $8
"""

_FINISH = "UPDATE api_calls SET status_code = $2, finished_at = $3 WHERE id = $1"

_STORE_AND_FINISH = """
WITH stored AS (
    UPDATE api_idempotency
    SET status_code = $2, response_body = $6::jsonb, completed_at = now(),
        lease_expires_at = NULL
    WHERE key_owner = $3 AND idempotency_key = $4 AND claim_token = $5 AND status_code IS NULL
    RETURNING 1
)
UPDATE api_calls SET status_code = $2, finished_at = $7 WHERE id = $1
"""

_RELEASE_AND_FINISH = """
WITH released AS (
    DELETE FROM api_idempotency
    WHERE key_owner = $3 AND idempotency_key = $4 AND claim_token = $5 AND status_code IS NULL
    RETURNING 1
)
UPDATE api_calls SET status_code = $2, finished_at = $6 WHERE id = $1
"""


class PostgresCallLedger:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open(self, call: CallStart, key: KeyRequest | None) -> Opened:
        audit = (
            call.episode_id,
            call.operation.value,
            call.submission_id,
            call.principal.actor,
            call.principal.role.value,
            call.principal.owner,
            call.at,
        )
        if key is None:
            call_id: int = await self._pool.fetchval(_BEGIN, *audit)
            return Opened(Claim(ClaimOutcome.NEW), call_id)
        row = await self._pool.fetchrow(
            _CLAIM_AND_BEGIN,
            *audit,
            key.key,
            key.method,
            key.path,
            key.request_hash,
            key.token,
            key.lease_s,
        )
        assert row is not None
        if row["call_id"] is not None:
            return Opened(Claim(ClaimOutcome.NEW), row["call_id"], key)
        return Opened(_existing(row, key.request_hash))

    async def close(self, opened: Opened, status_code: int, body: Any, at: datetime) -> None:
        key = opened.key
        if key is None:
            await self._pool.execute(_FINISH, opened.call_id, status_code, at)
            return
        await self._pool.execute(
            _STORE_AND_FINISH,
            opened.call_id,
            status_code,
            key.owner,
            key.key,
            key.token,
            json.dumps(body),
            at,
        )

    async def abandon(self, opened: Opened, status_code: int | None, at: datetime) -> None:
        key = opened.key
        if key is None:
            await self._pool.execute(_FINISH, opened.call_id, status_code, at)
            return
        await self._pool.execute(
            _RELEASE_AND_FINISH, opened.call_id, status_code, key.owner, key.key, key.token, at
        )


def _existing(row: asyncpg.Record, request_hash: str) -> Claim:
    """The answer for a key this request did not claim."""
    if row["request_hash"] is None:  # claimed by a request that began after this one
        return Claim(ClaimOutcome.IN_FLIGHT)
    if row["request_hash"] != request_hash:
        return Claim(ClaimOutcome.MISMATCH)
    if row["status_code"] is None:
        return Claim(ClaimOutcome.IN_FLIGHT, lease_left_s=row["lease_left_s"])
    return Claim(ClaimOutcome.REPLAY, row["status_code"], json.loads(row["response_body"]))
