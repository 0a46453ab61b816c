"""Webhook signatures: what a receiver accepts and what it must refuse."""

from __future__ import annotations

import pytest

from store.webhook import WebhookChannel, sign, verify_signature

BODY = b'{"message_id":"m1"}'
NOW = 1_750_000_000.0


def test_a_matching_fresh_signature_verifies() -> None:
    ts = str(int(NOW))
    signature = sign("s3cret", ts, BODY)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_signature("s3cret", timestamp=ts, body=BODY, signature=signature, now=NOW)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "now"),
    [
        ("other", str(int(NOW)), BODY, NOW),  # wrong secret
        ("s3cret", str(int(NOW)), BODY + b" ", NOW),  # body changed
        ("s3cret", str(int(NOW) + 1), BODY, NOW),  # timestamp changed after signing
        ("s3cret", str(int(NOW)), BODY, NOW + 301),  # stale: a replay
        ("s3cret", str(int(NOW)), BODY, NOW - 301),  # from the future
        ("s3cret", "yesterday", BODY, NOW),  # not a timestamp
    ],
)
def test_anything_else_is_refused(secret: str, timestamp: str, body: bytes, now: float) -> None:
    signature = sign("s3cret", str(int(NOW)), BODY)
    assert not verify_signature(
        secret, timestamp=timestamp, body=body, signature=signature, now=now
    )


def test_plain_http_only_to_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        WebhookChannel("http://clinic.example.org/hook", "s")
    with pytest.raises(ValueError, match="secret"):
        WebhookChannel("https://clinic.example.org/hook", "")
    WebhookChannel("https://clinic.example.org/hook", "s")
    WebhookChannel("http://127.0.0.1:9/hook", "s")
