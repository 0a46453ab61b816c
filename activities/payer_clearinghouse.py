"""The real payer adapter: a clearinghouse reached over HTTPS.

Eligibility goes as an X12 270 and comes back as a 271. Prior authorization goes as
JSON to the clearinghouse's own endpoint: the X12 278 is out of scope here, since
clearinghouses commonly front it with a JSON API and our needs fit that shape.

Errors are sorted for Temporal's retry policy: `PayerDataError` (a ValueError) when
the payer rejects the data itself, which no retry can fix; `PayerUnavailableError`
(a plain Exception) for 5xx, 429, timeouts and connection failures, which a retry may.
Nothing identifying a patient goes into a log line or an exception message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from activities.ports import PayerDataError
from activities.x12 import PayerUnavailableError, Submitter, build_270, parse_271, trace_number
from schemas.payer import AuthorizationRequest, EligibilityRequest, EligibilityResult, PayerAnswer

__all__ = ["ClearinghousePayer", "PayerDataError", "PayerUnavailableError"]

log = logging.getLogger(__name__)

X12_CONTENT_TYPE = "application/edi-x12"
# 4xx answers a retry can cure: credentials being rotated, rate limits, slow requests.
_RETRYABLE_4XX = frozenset({401, 403, 408, 425, 429})
_SAFE_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")
_ANSWER_FIELDS = frozenset(PayerAnswer.model_fields)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ClearinghousePayer:
    """`PayerPort` over a clearinghouse's HTTP API; the caller owns the httpx client."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        http: httpx.AsyncClient,
        *,
        submitter: Submitter | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._http = http
        self._submitter = submitter or Submitter()
        self._clock = clock

    async def check_eligibility(self, request: EligibilityRequest) -> EligibilityResult:
        """Send a 270, read the 271; the 271 must echo our TRN trace number."""
        body = build_270(request, self._submitter, self._clock())
        response = await self._post(
            "eligibility",
            content=body.encode(),
            content_type=X12_CONTENT_TYPE,
            idempotency_key=request.request_id,
        )
        return parse_271(
            response.text,
            checked_at=self._clock(),
            service_types=request.service_types,
            expected_trace=trace_number(request.request_id),
        )

    async def request_authorization(self, request: AuthorizationRequest) -> PayerAnswer:
        """Post the request as JSON; the Idempotency-Key lets the payer drop a retry."""
        response = await self._post(
            "authorizations",
            content=request.model_dump_json().encode(),
            content_type="application/json",
            idempotency_key=request.request_id,
        )
        return _answer_from_json(response)

    async def _post(
        self, path: str, *, content: bytes, content_type: str, idempotency_key: str
    ) -> httpx.Response:
        url = f"{self._base_url}/{path}"
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": content_type,
            "Idempotency-Key": idempotency_key,
        }
        try:
            response = await self._http.post(url, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            log.warning("clearinghouse %s timed out", path)
            raise PayerUnavailableError(f"clearinghouse {path} timed out") from exc
        except httpx.TransportError as exc:
            log.warning("clearinghouse %s unreachable: %s", path, type(exc).__name__)
            raise PayerUnavailableError(
                f"clearinghouse {path} unreachable ({type(exc).__name__})"
            ) from exc
        log.info("clearinghouse %s answered %s", path, response.status_code)
        _raise_for_status(path, response)
        return response


def _raise_for_status(path: str, response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = _error_code(response)
    message = f"clearinghouse {path} answered HTTP {status}" + (f" ({detail})" if detail else "")
    if status >= 500 or status in _RETRYABLE_4XX:
        raise PayerUnavailableError(message)
    raise PayerDataError(message)


def _error_code(response: httpx.Response) -> str | None:
    """A machine code from a JSON error body, if it looks like one; never free text,
    which may quote the member's data back to us."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    candidate = body.get("code")
    error = body.get("error")
    if candidate is None and isinstance(error, dict):
        candidate = error.get("code")
    if isinstance(candidate, str) and _SAFE_CODE.match(candidate):
        return candidate
    return None


def _answer_from_json(response: httpx.Response) -> PayerAnswer:
    """Map the clearinghouse's JSON to PayerAnswer, ignoring fields we do not model."""
    try:
        body: Any = response.json()
    except ValueError:
        raise ValueError("authorization answer is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("authorization answer must be a JSON object")
    known = {key: value for key, value in body.items() if key in _ANSWER_FIELDS}
    return PayerAnswer.model_validate(known)
