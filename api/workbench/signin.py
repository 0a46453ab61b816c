"""Sign-in and sign-out pages. The sign-in form's CSRF is a double-submit cookie (there
is no session yet); everything after sign-in uses the session's own token."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.workbench.accounts import SignInOutcome
from api.workbench.guard import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    EndReason,
    client_of,
    csrf_matches,
    current_session,
    workbench_of,
)
from api.workbench.sessions import AuthEvent, Session
from api.workbench.web import page

_REASON_TEXT = {
    EndReason.IDLE: "You were signed out after a period without activity.",
    EndReason.EXPIRED: "Your session reached its time limit. Please sign in again.",
    EndReason.SIGNED_OUT: "You are signed out.",
}
_BAD = "The username or password is not right."
_LOCKED = (
    "This account is locked after repeated failed sign-ins. Try again later, or ask a "
    "program administrator."
)


def _safe_next(target: str | None) -> str:
    """Only a path inside the workbench (no open redirect, no other host)."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/"


def _secure(request: Request) -> bool:
    configured = workbench_of(request).settings.cookie_secure
    return configured if configured is not None else request.url.scheme == "https"


def build_signin_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)

    def login_page(
        request: Request, *, next_path: str, message: str | None, error: str | None, status: int
    ) -> HTMLResponse:
        token = secrets.token_urlsafe(32)
        response = page(
            request,
            "login.html",
            {
                "session": None,
                "login_csrf": token,
                "next_path": _safe_next(next_path),
                "message": message,
                "error": error,
            },
            status_code=status,
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            path=f"{PREFIX}/login",
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
        return response

    @router.get("/login", response_class=HTMLResponse)
    async def show_login(
        request: Request,
        next_path: Annotated[str | None, Query(alias="next")] = None,
        reason: EndReason | None = None,
    ) -> HTMLResponse:
        message = _REASON_TEXT.get(reason) if reason else None
        return login_page(
            request, next_path=next_path or "", message=message, error=None, status=200
        )

    @router.post("/login")
    async def sign_in(
        request: Request,
        username: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
        next_path: Annotated[str, Form(alias="next")] = "",
    ) -> Response:
        workbench = workbench_of(request)
        if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf_token or None):
            return login_page(
                request,
                next_path=next_path,
                message=None,
                error="The sign-in form expired. Please try again.",
                status=403,
            )
        now = workbench.clock()
        client = client_of(request)
        result = await workbench.accounts.verify(username.strip(), password, now=now)
        if result.outcome is not SignInOutcome.OK or result.account is None:
            event = (
                AuthEvent.LOCKED_OUT
                if result.outcome is SignInOutcome.LOCKED
                else AuthEvent.SIGN_IN_FAILED
            )
            await workbench.sessions.audit(
                event, at=now, username=username, account_id=result.account_id, client=client
            )
            error = _LOCKED if result.outcome is SignInOutcome.LOCKED else _BAD
            return login_page(request, next_path=next_path, message=None, error=error, status=401)
        token, _session = await workbench.sessions.open(result.account, now=now)
        await workbench.sessions.audit(
            AuthEvent.SIGN_IN,
            at=now,
            username=result.account.username,
            account_id=result.account.account_id,
            client=client,
        )
        response = RedirectResponse(_safe_next(next_path), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=f"{PREFIX}/login")
        return response

    @router.post("/logout")
    async def sign_out(
        request: Request, session: Annotated[Session, Depends(current_session)]
    ) -> Response:
        workbench = workbench_of(request)
        await workbench.sessions.close(session, now=workbench.clock(), client=client_of(request))
        response = RedirectResponse(
            f"{PREFIX}/login?reason={EndReason.SIGNED_OUT.value}", status_code=303
        )
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    return router
