"""Cursors for the episode list (keyset pagination of `GET /v1/episodes`).

A cursor is where the previous page ended (its last row's sort key) plus a digest of the
filter it was issued for, signed with HMAC-SHA256. It is opaque to clients: a cursor that
was changed, or that is sent with another filter (another program, phase, caller's
program scope…), is refused with a 422 that says which, and nothing is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from api.problems import ApiProblem, FieldError
from store.models import EpisodeFilter, EpisodeKey, EpisodePage, EpisodeRow

CURSOR_VERSION = 1
_TAG_BYTES = 16


class EpisodeListPage(BaseModel):
    """A page of `GET /v1/episodes`; ask for the next one with `cursor=next_cursor`."""

    model_config = ConfigDict(extra="forbid")
    items: list[EpisodeRow]
    total: int | None = Field(
        description="every matching episode, with count_total=true only (else null)"
    )
    limit: int
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: int
    f: str  # the filter's digest
    d: datetime | None  # next_review_due of the page's last row
    e: str  # episode_id of the page's last row


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def filter_digest(where: EpisodeFilter) -> str:
    """The filter a cursor is bound to (the caller's program scope included)."""
    canonical = where.model_dump_json()
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def derive_key(material: list[str]) -> bytes:
    """A cursor key from settings every API process shares (the API keys), or a random one
    for this process when there is nothing to derive from."""
    if not material:
        return secrets.token_bytes(32)
    digest = hashlib.sha256(b"carepath-episode-cursor\x00")
    for item in sorted(material):
        digest.update(item.encode() + b"\x00")
    return digest.digest()


def _refused(detail: str) -> ApiProblem:
    return ApiProblem(
        422,
        "invalid-cursor",
        detail,
        errors=[FieldError(field="query.cursor", message=detail)],
    )


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, secret: SecretStr | None, api_keys: Iterable[str]) -> CursorCodec:
        """`CAREPATH_API_CURSOR_KEY`, or a key derived from the API keys when unset."""
        if secret is not None:
            return cls(secret.get_secret_value().encode())
        return cls(derive_key(list(api_keys)))

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, where: EpisodeFilter, key: EpisodeKey) -> str:
        payload = _Payload(
            v=CURSOR_VERSION, f=filter_digest(where), d=key.next_review_due, e=key.episode_id
        )
        body = payload.model_dump_json().encode()
        return f"{_b64(body)}.{_b64(self._tag(body))}"

    def decode(self, where: EpisodeFilter, cursor: str) -> EpisodeKey:
        """The key a cursor names; 422 when it was altered or belongs to another filter."""
        try:
            body_text, tag_text = cursor.split(".")
            body, tag = _unb64(body_text), _unb64(tag_text)
        except (ValueError, binascii.Error):
            raise _refused("the cursor is not one this API issued") from None
        if not hmac.compare_digest(tag, self._tag(body)):
            raise _refused("the cursor was altered (its signature does not match)")
        try:
            payload = _Payload.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            raise _refused("the cursor is not one this API issued") from None
        if payload.v != CURSOR_VERSION:
            raise _refused("the cursor is from an older version: start from the first page")
        if not hmac.compare_digest(payload.f, filter_digest(where)):
            raise _refused(
                "the cursor belongs to another filter: send the same filters as the page"
                " it came from, or start from the first page"
            )
        return EpisodeKey(next_review_due=payload.d, episode_id=payload.e)

    def page(self, where: EpisodeFilter, found: EpisodePage) -> EpisodeListPage:
        last = found.last_key()
        return EpisodeListPage(
            items=found.items,
            total=found.total,
            limit=found.limit,
            next_cursor=None if last is None else self.encode(where, last),
        )
