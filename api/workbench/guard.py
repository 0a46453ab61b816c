"""Who is signed in, and what every workbench request must pass before its page runs:
a live session (idle and absolute limits), a role the page allows, and, for a form,
the session's CSRF token.

A request without a live session is sent to the sign-in page; an htmx request gets
`HX-Redirect` instead, so a polling page leaves the screen when the session ends.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api.workbench.accounts import PersonRole
from api.workbench.sessions import AuthEvent, Ended, Session

if TYPE_CHECKING:
    from api.workbench.web import Workbench

SESSION_COOKIE = "carepath_session"
LOGIN_CSRF_COOKIE = "carepath_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Sent by the page's own refreshes (hx-headers): reads the session without moving its
# idle clock.
BACKGROUND_HEADER = "X-Carepath-Background"
PREFIX = "/app"


class EndReason(StrEnum):
    """Why the sign-in page is shown (a query parameter: never anything about a patient)."""

    IDLE = "idle"
    EXPIRED = "expired"
    SIGNED_OUT = "signed-out"


_REASON_FOR_EVENT = {
    AuthEvent.IDLE_TIMEOUT: EndReason.IDLE,
    AuthEvent.SESSION_EXPIRED: EndReason.EXPIRED,
}


class SignInRequired(Exception):
    def __init__(self, reason: EndReason | None = None) -> None:
        super().__init__(reason.value if reason else "sign-in required")
        self.reason = reason


class Forbidden(Exception):
    """A signed-in person whose role or programs do not allow the page (403 page)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def workbench_of(request: Request) -> Workbench:
    workbench: Workbench = request.app.state.workbench
    return workbench


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def _next_path(request: Request) -> str:
    path = request.url.path
    return path if path.startswith(PREFIX) and request.method == "GET" else f"{PREFIX}/"


def sign_in_redirect(request: Request, reason: EndReason | None) -> Response:
    query = {"next": _next_path(request)}
    if reason is not None:
        query["reason"] = reason.value
    target = f"{PREFIX}/login?{urlencode(query)}"
    if request.headers.get("HX-Request") == "true":
        response: Response = Response(status_code=200, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


def csrf_matches(expected: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(expected.encode(), sent.encode())


async def current_session(request: Request) -> Session:
    """The live session, or SignInRequired. Background requests do not count as activity."""
    return await live_session(request, active=request.headers.get(BACKGROUND_HEADER) != "1")


async def live_session(request: Request, *, active: bool) -> Session:
    """The live session (moving its idle clock only when `active`), or SignInRequired."""
    workbench = workbench_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired()
    found = await workbench.sessions.touch(token, now=workbench.clock(), active=active)
    if found is None:
        raise SignInRequired()
    if isinstance(found, Ended):
        raise SignInRequired(_REASON_FOR_EVENT.get(found.reason))
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        if not csrf_matches(found.csrf_token, sent):
            raise Forbidden("the form's security token is missing or stale: reload the page")
    return found


def signed_in_as(roles: Iterable[PersonRole]) -> Callable[[Request], Awaitable[Session]]:
    """A dependency: a live session whose role is one of `roles`."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Session:
        session = await current_session(request)
        if session.account.role not in allowed:
            raise Forbidden(f"the role '{session.account.role}' may not use this page")
        return session

    return dependency
