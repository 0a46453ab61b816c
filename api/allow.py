"""The `Allow` header: every method any route serves at a path, not only the first route's.

Starlette answers 405 from the first route whose path matches, so `GET /v1/episodes` and
`POST /v1/episodes` (two routes) each hid the other. `OPTIONS` on any known path answers
204 with the same list (RFC 9110 §9.3.7).
"""

from __future__ import annotations

from fastapi import Request
from starlette.routing import Match

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _served(request: Request, method: str) -> bool:
    scope = {**request.scope, "method": method}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


def allowed_methods(request: Request) -> list[str]:
    """The methods some route serves at the request's path (each probed through routing
    itself, so included routers count too); OPTIONS when there is any."""
    methods = [method for method in _METHODS if _served(request, method)]
    return [*methods, "OPTIONS"] if methods else []


def allow_header(request: Request) -> dict[str, str]:
    methods = allowed_methods(request)
    return {"Allow": ", ".join(methods)} if methods else {}
