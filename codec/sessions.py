"""Operator credentials for the codec server: bearer tokens and signed session cookies.

A browser cannot add a bearer token to the Web UI's codec requests, so an operator signs
in once on the codec server's /login page with the token and gets a signed, expiring session
cookie; the UI forwards it when "include cross-origin credentials" is on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path

SESSION_COOKIE = "carepath_codec_session"
_VERSION = "v1"


class OperatorTokens:
    """Constant-time check of a presented token against the configured ones."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = tuple(hashlib.sha256(t.encode()).digest() for t in tokens if t)

    def accepts(self, presented: str | None) -> bool:
        if not presented:
            return False
        digest = hashlib.sha256(presented.encode()).digest()
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        return matched


class SessionSigner:
    """Issues and verifies `v1.<expiry>.<session id>.<hmac>` cookie values.

    Stateless apart from a revocation set for sessions signed out before they expire.
    """

    def __init__(
        self,
        secret: bytes,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 32:
            raise ValueError("session secret must be at least 32 bytes")
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._revoked: dict[str, int] = {}

    def issue(self) -> str:
        expires = int(self._clock()) + self.ttl_seconds
        body = f"{_VERSION}.{expires}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign(body)}"

    def verify(self, value: str | None) -> bool:
        if not value:
            return False
        body, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return False
        version, expires_text, session_id = [*body.split("."), "", "", ""][:3]
        if version != _VERSION or not expires_text.isdigit():
            return False
        return int(expires_text) > self._clock() and session_id not in self._revoked

    def revoke(self, value: str | None) -> None:
        if not self.verify(value):
            return
        assert value is not None
        _, expires_text, session_id = value.split(".")[:3]
        self._revoked[session_id] = int(expires_text)
        now = self._clock()
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


DEV_TOKEN_FILENAME = "operator-token"


def ensure_dev_operator_token(data_dir: Path) -> Path:
    """Create `data_dir/keys/operator-token` (mode 0600) on first call; return its path.

    For `make run` only: it prints the token so the developer can sign in to the codec server.
    """
    keys_dir = data_dir / "keys"
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = keys_dir / DEV_TOKEN_FILENAME
    if path.exists():
        return path
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_urlsafe(24) + "\n")
    return path
