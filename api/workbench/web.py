"""Mount the workbench on the API's FastAPI app: `/app` pages, `/app/static` assets,
security headers on every `/app` answer, and the sign-in handlers.

The API process serves both, from the same services: pages read through the same
records and engine facade as `/v1`, and submit through the same `Mutations`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.deps import Services
from api.problems import ApiProblem
from api.workbench.accounts import Account, PostgresAccounts
from api.workbench.guard import PREFIX, Forbidden, SignInRequired, sign_in_redirect
from api.workbench.render import FILTERS, GLOBALS
from api.workbench.sessions import PostgresSessions, Session
from api.workbench.settings import WorkbenchSettings
from schemas.view import EpisodeView

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
TEMPLATES.env.globals.update(GLOBALS)
TEMPLATES.env.filters.update(FILTERS)

# No inline script or style anywhere; SVG charts are their own documents (see charts).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# The patient's questionnaire pages (api/workbench/patient_page.py) get the same headers.
PATIENT_PAGES = "/p/"
# Pages show patient data: never kept by a browser or a proxy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class Workbench:
    services: Services
    settings: WorkbenchSettings
    accounts: PostgresAccounts
    sessions: PostgresSessions

    def clock(self) -> datetime:
        return self.services.deps.clock()


def build_workbench(services: Services, settings: WorkbenchSettings) -> Workbench:
    pool = services.deps.pool
    accounts = PostgresAccounts(
        pool,
        lockout_after_failures=settings.lockout_after_failures,
        lockout=timedelta(seconds=settings.lockout_seconds),
    )
    sessions = PostgresSessions(
        pool,
        idle=timedelta(seconds=settings.idle_timeout_seconds),
        lifetime=timedelta(seconds=settings.session_lifetime_seconds),
    )
    return Workbench(services=services, settings=settings, accounts=accounts, sessions=sessions)


def mount_workbench(app: FastAPI, services: Services, settings: WorkbenchSettings) -> None:
    from api.workbench.care_tasks_page import build_care_tasks_page_router
    from api.workbench.forms import build_forms_router
    from api.workbench.outcomes_page import build_outcomes_page_router
    from api.workbench.packet_page import build_packet_page_router
    from api.workbench.pages import build_pages_router
    from api.workbench.signin import build_signin_router

    app.state.workbench = build_workbench(services, settings)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="workbench-static")
    app.include_router(build_signin_router(), include_in_schema=False)
    app.include_router(build_pages_router(), include_in_schema=False)
    app.include_router(build_forms_router(), include_in_schema=False)
    app.include_router(build_outcomes_page_router(), include_in_schema=False)
    app.include_router(build_packet_page_router(), include_in_schema=False)
    app.include_router(build_care_tasks_page_router(), include_in_schema=False)

    async def on_sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return sign_in_redirect(request, exc.reason)

    async def on_forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Forbidden)
        return TEMPLATES.TemplateResponse(
            request,
            "message.html",
            {"title": "Not allowed", "message": exc.detail, "session": None},
            status_code=403,
        )

    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(Forbidden, on_forbidden)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.url.path.startswith((PREFIX, PATIENT_PAGES)):
            response.headers.update(SECURITY_HEADERS)
            if not request.url.path.startswith(f"{PREFIX}/static"):
                response.headers.update(NO_STORE)
        return response


def page(
    request: Request, template: str, context: dict[str, object], *, status_code: int = 200
) -> HTMLResponse:
    """Render a page template (the session, when given, fills the header and the CSRF)."""
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


async def visible_episode(workbench: Workbench, account: Account, episode_id: str) -> EpisodeView:
    """The live view; a program the person may not see answers as unknown (no leak)."""
    view = await workbench.services.episodes.state(episode_id)
    if not account.sees(view.program_id):
        raise ApiProblem(404, "episode-not-found", f"no episode '{episode_id}'")
    workbench.services.programs.remember(episode_id, view.program_id)
    return view


def problem_page(request: Request, session: Session | None, problem: ApiProblem) -> HTMLResponse:
    """An engine or records problem as a page, with its status (404, 409, 503 ...)."""
    return page(
        request,
        "message.html",
        {
            "session": session,
            "title": problem.detail,
            "message": problem.detail,
            "problem": problem,
        },
        status_code=problem.status,
    )
