"""Twilio's request signature (`X-Twilio-Signature`), which compatible gateways also send.

The signature is base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
sorted by name)), over the exact URL the gateway called (our public URL, query included).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Twilio-Signature"


def compute_signature(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    data = url + "".join(name + value for name, value in sorted(params))
    mac = hmac.new(token.encode(), data.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def valid_signature(
    token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> bool:
    if not signature or not token:
        return False
    return hmac.compare_digest(compute_signature(token, url, params), signature)
