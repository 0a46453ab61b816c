"""HTTPS webhook channel for clinic systems: each body signed with HMAC-SHA256.

Headers: `X-Carepath-Message-Id` (dedupe key), `X-Carepath-Timestamp` (Unix seconds) and
`X-Carepath-Signature: sha256=<hex HMAC of "{timestamp}.{body}">`. Receivers check it with
`verify_signature`, which also rejects stale timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from store.outbox import DeliveryError, OutboxMessage, PermanentDeliveryError

MESSAGE_ID_HEADER = "X-Carepath-Message-Id"
TIMESTAMP_HEADER = "X-Carepath-Timestamp"
SIGNATURE_HEADER = "X-Carepath-Signature"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
# Statuses worth retrying; any other 4xx means the receiver rejects this message for good.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(_key(secret), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str | bytes,
    *,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float | None = None,
    tolerance_s: float = 300.0,
) -> bool:
    """True only for a matching signature on a timestamp within `tolerance_s` of now."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookChannel:
    """POSTs each message as JSON; HTTPS only, except plain HTTP to a loopback address."""

    def __init__(
        self,
        url: str,
        secret: str | bytes,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
            raise ValueError("webhook URL must use https (plain http only to a loopback host)")
        if not _key(secret):
            raise ValueError("webhook secret must not be empty")
        self._url = url
        self._secret = secret
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._clock = clock

    async def deliver(self, message: OutboxMessage) -> None:
        body = json.dumps(message.payload(), sort_keys=True, separators=(",", ":")).encode()
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            MESSAGE_ID_HEADER: message.message_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        try:
            response = await self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryError(type(error).__name__) from error
        if response.is_success:
            return
        status = response.status_code
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise PermanentDeliveryError(f"HTTP {status}")
        raise DeliveryError(f"HTTP {status}")

    async def aclose(self) -> None:
        await self._client.aclose()
