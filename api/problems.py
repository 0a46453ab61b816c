"""Every error the API returns, in one shape: RFC 9457 problem details.

Routes raise `ApiProblem`; `install_problem_handlers` turns it (and FastAPI's own
validation and HTTP errors) into `application/problem+json` responses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.allow import allow_header
from schemas.text import TEXT_PATTERN, TEXT_RULE

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://carepath.dev/problems/"


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(description="dotted path into the body, query or header")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, plus `errors` (422) and `allowed_actions` (409)."""

    model_config = ConfigDict(extra="forbid")
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    allowed_actions: list[str] | None = None


class ApiProblem(Exception):
    """Raised by routes and adapters; rendered as a problem response."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        errors: Sequence[FieldError] | None = None,
        allowed_actions: Sequence[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.allowed_actions = list(allowed_actions) if allowed_actions is not None else None
        self.headers = headers or {}

    def to_problem(self, instance: str | None) -> Problem:
        return Problem(
            type=PROBLEM_BASE + self.slug,
            title=HTTPStatus(self.status).phrase,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
            allowed_actions=self.allowed_actions,
        )


def episode_not_found(episode_id: str) -> ApiProblem:
    """The one answer for an unknown episode and for one the key may not see (no probing)."""
    return ApiProblem(404, "episode-not-found", f"no episode '{episode_id}'")


def episode_id_conflict(episode_id: str) -> ApiProblem:
    """A start under a used episode ID with another body (nothing was changed)."""
    return ApiProblem(
        409,
        "episode-id-conflict",
        f"episode '{episode_id}' was already started with a different body",
    )


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _message(error: Mapping[str, Any]) -> str:
    """pydantic's message, except for the text rule, whose pattern says little to a person."""
    kind = error.get("type")
    pattern = (error.get("ctx") or {}).get("pattern")
    if kind == "string_unicode" or (kind == "string_pattern_mismatch" and pattern == TEXT_PATTERN):
        return TEXT_RULE
    return str(error.get("msg", ""))


def field_errors(raw: Sequence[Any]) -> list[FieldError]:
    """pydantic / FastAPI error dicts → field-level messages (no input values echoed)."""
    found = []
    for error in raw:
        location = ".".join(str(part) for part in error.get("loc", ()))
        found.append(FieldError(field=location or "body", message=_message(error)))
    return found


def is_malformed_json(raw: Sequence[Any]) -> bool:
    """FastAPI reports a body it could not parse as a `json_invalid` validation error."""
    return any(error.get("type") == "json_invalid" for error in raw)


_SLUGS = {401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiProblem)
        return problem_response(exc.to_problem(request.url.path), exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        if is_malformed_json(exc.errors()):
            malformed = ApiProblem(400, "malformed-json", "the body is not parseable JSON")
            return problem_response(malformed.to_problem(request.url.path))
        problem = ApiProblem(
            422, "invalid-request", "the request is not valid", errors=field_errors(exc.errors())
        )
        return problem_response(problem.to_problem(request.url.path))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers.update(allow_header(request))
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=headers)
        slug = _SLUGS.get(exc.status_code, "http-error")
        problem = ApiProblem(exc.status_code, slug, str(exc.detail))
        return problem_response(problem.to_problem(request.url.path), headers)

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # Anything else (an outage → 503, else a logged 500): api.outages.install_outage_handlers.
