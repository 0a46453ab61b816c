"""The HTTP API's own tables (migrations 0100, 0101, 0220): audit rows, Idempotency-Key claims.

`api_calls` records every mutating call (who, what, when, with which status, on which
episode and/or which group, session or program: `subject`);
`api_idempotency` keeps, per (key owner, Idempotency-Key), the claim of the request that
runs and then its stored answer. Each function is one statement, so one round trip: the
API opens a call with `begin_call` or `claim_and_begin`, and closes it with `finish_call`,
`store_answer_and_finish` or `release_and_finish` (api/ledger.py says when).

Plain values in, plain rows out: the API's own types (operations, principals, claim
outcomes) stay in api/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class CallAudit:
    """What an audit row records about a call before it runs: the episode it changes, or
    (a group, session or program write) the `subject` it changes, or both."""

    episode_id: str | None
    operation: str
    submission_id: str | None
    actor: str
    role: str
    key_owner: str
    at: datetime
    subject: str | None = None

    def values(self) -> tuple[object, ...]:
        return (
            self.episode_id,
            self.subject,
            self.operation,
            self.submission_id,
            self.actor,
            self.role,
            self.key_owner,
            self.at,
        )


@dataclass(frozen=True)
class KeyClaim:
    """One Idempotency-Key claim: whose key, for which request, with which token and lease."""

    owner: str
    key: str
    method: str
    path: str
    request_hash: str
    token: str
    lease_s: float


@dataclass(frozen=True)
class ClaimRow:
    """What `claim_and_begin` found. `call_id` set: the claim was taken and the audit row
    begun. Otherwise the key's row as it was before (all None: claimed by a request that
    began after this one)."""

    call_id: int | None
    request_hash: str | None
    status_code: int | None
    response_body: Any
    lease_left_s: float | None


_BEGIN = """
INSERT INTO api_calls (episode_id, subject, operation, submission_id, actor, role, key_owner, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id
"""

# Claim (a new row, or one whose lease ran out for this same request) and, only if the
# claim was taken, begin the audit row. The outer SELECT sees the row as it was before
# this statement: a key that was not claimed is answered from it.
_CLAIM_AND_BEGIN = """
WITH claimed AS (
    INSERT INTO api_idempotency AS k (key_owner, idempotency_key, method, path, request_hash,
        claim_token, lease_expires_at)
    VALUES ($7, $9, $10, $11, $12, $13, now() + make_interval(secs => $14))
    ON CONFLICT (key_owner, idempotency_key) DO UPDATE
        SET claim_token = EXCLUDED.claim_token, lease_expires_at = EXCLUDED.lease_expires_at
        WHERE k.status_code IS NULL AND k.lease_expires_at <= now()
            AND k.request_hash = EXCLUDED.request_hash
    RETURNING k.claim_token
), began AS (
    INSERT INTO api_calls (episode_id, subject, operation, submission_id, actor, role,
        key_owner, at)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM claimed
    RETURNING id
)
SELECT (SELECT id FROM began) AS call_id, k.request_hash, k.status_code, k.response_body,
    greatest(0, extract(epoch FROM k.lease_expires_at - now()))::float8 AS lease_left_s
FROM (SELECT 1) AS one
LEFT JOIN api_idempotency AS k ON k.key_owner = $7 AND k.idempotency_key = $9
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

_CALLS_OF_EPISODE = """
SELECT 'api_call' AS kind, at, actor, operation, submission_id, status_code
FROM api_calls WHERE episode_id = $1
ORDER BY at, id
"""


async def begin_call(pool: asyncpg.Pool, call: CallAudit) -> int:
    """Begin the audit row of a call made without an Idempotency-Key; its id."""
    call_id: int = await pool.fetchval(_BEGIN, *call.values())
    return call_id


async def claim_and_begin(pool: asyncpg.Pool, call: CallAudit, key: KeyClaim) -> ClaimRow:
    """Claim the key and, only if claimed, begin the audit row (one statement)."""
    row = await pool.fetchrow(
        _CLAIM_AND_BEGIN,
        *call.values(),
        key.key,
        key.method,
        key.path,
        key.request_hash,
        key.token,
        key.lease_s,
    )
    assert row is not None  # the outer SELECT always returns one row
    body = row["response_body"]
    return ClaimRow(
        call_id=row["call_id"],
        request_hash=row["request_hash"],
        status_code=row["status_code"],
        response_body=json.loads(body) if body is not None else None,
        lease_left_s=row["lease_left_s"],
    )


async def finish_call(
    pool: asyncpg.Pool, call_id: int | None, status_code: int | None, at: datetime
) -> None:
    """Finish the audit row of a call made without a key."""
    await pool.execute(_FINISH, call_id, status_code, at)


async def store_answer_and_finish(
    pool: asyncpg.Pool,
    call_id: int | None,
    key: KeyClaim,
    status_code: int,
    body: Any,
    at: datetime,
) -> None:
    """Store the answer under the key (only while this claim holds) and finish the row."""
    await pool.execute(
        _STORE_AND_FINISH,
        call_id,
        status_code,
        key.owner,
        key.key,
        key.token,
        json.dumps(body),
        at,
    )


async def release_and_finish(
    pool: asyncpg.Pool,
    call_id: int | None,
    key: KeyClaim,
    status_code: int | None,
    at: datetime,
) -> None:
    """Release the claim (only while this claim holds, so a retry may run) and finish."""
    await pool.execute(_RELEASE_AND_FINISH, call_id, status_code, key.owner, key.key, key.token, at)


async def calls_of_episode(pool: asyncpg.Pool, episode_id: str) -> list[dict[str, Any]]:
    """The episode's API calls as timeline rows (kind 'api_call'), oldest first."""
    return [dict(row) for row in await pool.fetch(_CALLS_OF_EPISODE, episode_id)]
