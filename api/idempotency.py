"""`Idempotency-Key` (IETF httpapi draft): a retried request gets the first answer back.

The rules, without the storage (`api.ledger` keeps the rows): what makes two requests
the same (`request_hash`), what a key may look like, and what a claim can find. A claim
is taken before any work and holds a lease; the answer is stored after; a 5xx releases
the claim so the client may retry at once. Same key with a different request → 422.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MAX_KEY_LENGTH = 255
# Printable ASCII, as an HTTP structured-field string: nothing PostgreSQL cannot store.
_KEY = re.compile(rf"^[\x20-\x7E]{{1,{MAX_KEY_LENGTH}}}$")


class ClaimOutcome(StrEnum):
    NEW = "new"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_FLIGHT = "in_flight"


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    status_code: int | None = None
    body: Any = None
    lease_left_s: float | None = None


def valid_key(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


def request_hash(method: str, path: str, body: bytes) -> str:
    """Hash of what was asked: the same key on another endpoint or body is a mismatch."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()
