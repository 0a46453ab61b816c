"""The patient's questionnaire page, `/p/{token}`: no sign-in, no patient data.

The date of birth first (when the program's policy asks for it; wrong answers counted,
the last allowed one locks the link), then the questions; the answers are recorded
through the episode's `submit_patient_measure` Workflow Update with the link's own
submission ID, so a resubmission is a retry. Any link that does not open — unknown,
expired, used, locked, or an episode that no longer takes answers — gets one plain page
with status 404 that says nothing about why. Addresses that keep asking for links that do
not open are refused for a while (429): token guessing.

Built on the workbench's web stack (templates, static assets, security headers); the
CSRF token before the date of birth is a double-submit cookie like the sign-in page's,
afterwards the answer key itself (random, its hash on the link, also in an HttpOnly
SameSite=Strict cookie).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse

from api.deps import Services
from api.problems import ApiProblem
from api.workbench import questionnaires as q
from api.workbench.guard import csrf_matches
from api.workbench.web import page
from rules.instruments import phq9_self_harm
from rules.transitions import Action
from schemas.submissions import Gad7, PatientMeasureSubmission, Phq9
from store.channels.links import Instrument, MissLimiter, OpenLink, PostgresLinks
from store.followups import followup_of_link, record_answer
from store.postgres import DEFAULT_CHANNEL

PATIENT_PREFIX: Final = "/p"
CSRF_COOKIE: Final = "carepath_patient_csrf"
ANSWER_COOKIE: Final = "carepath_patient_answer"
UNAVAILABLE_STATUS: Final = 404


@dataclass(frozen=True)
class PatientPageSettings:
    """Token guessing: this many requests for links that do not open, per client address
    and window, before the address is refused."""

    misses_allowed: int = 20
    miss_window_seconds: float = 15 * 60


@dataclass(frozen=True)
class InstrumentForm:
    prefix: str
    heading: str
    stem: str
    items: tuple[str, ...]


FORMS: Final[dict[Instrument, InstrumentForm]] = {
    Instrument.PHQ9: InstrumentForm("phq9.items", "PHQ-9", q.PHQ9_PATIENT_STEM, q.PHQ9_ITEMS),
    Instrument.GAD7: InstrumentForm("gad7.items", "GAD-7", q.GAD7_PATIENT_STEM, q.GAD7_ITEMS),
}
TITLE: Final = "A few questions from your care team"
_TOKEN_IN_PATH = re.compile(r"(/p/)[A-Za-z0-9_-]+")


class RedactLinkTokens(logging.Filter):
    """Access-log lines name the route, never the token (`/p/…`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_PATH.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args
            )
        record.msg = _TOKEN_IN_PATH.sub(r"\1…", str(record.msg))
        return True


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _unavailable(request: Request, *, status: int = UNAVAILABLE_STATUS) -> HTMLResponse:
    return page(
        request,
        "patient_unavailable.html",
        {
            "session": None,
            "title": "This link is not available",
            "message": "This link cannot be used.",
        },
        status_code=status,
    )


def _try_later(request: Request) -> HTMLResponse:
    return page(
        request,
        "patient_unavailable.html",
        {
            "session": None,
            "title": "Please try again later",
            "message": "Your answers could not be sent just now. Nothing was lost: "
            "please try again in a few minutes.",
        },
        status_code=503,
    )


class PatientPage:
    def __init__(self, services: Services, settings: PatientPageSettings) -> None:
        self._services = services
        self._links = PostgresLinks(services.deps.pool)
        self._misses = MissLimiter(
            services.deps.pool,
            limit=settings.misses_allowed,
            window=timedelta(seconds=settings.miss_window_seconds),
        )

    async def open(self, request: Request, token: str) -> OpenLink | HTMLResponse:
        """The open link, or the page to answer with (refused or unavailable)."""
        now = self._services.deps.clock()
        client = _client(request)
        if await self._misses.blocked(client, now):
            return _unavailable(request, status=429)
        link = await self._links.open_link(token, now)
        if link is None:
            await self._misses.record(client, now)
            return _unavailable(request)
        return link

    def birth_date_form(
        self,
        request: Request,
        token: str,
        *,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = page(
            request,
            "patient_birth_date.html",
            {
                "session": None,
                "title": TITLE,
                "action": f"{PATIENT_PREFIX}/{token}/birth-date",
                "csrf_token": csrf,
                "errors": errors or {},
                "values": values or {},
            },
            status_code=status,
        )
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path=PATIENT_PREFIX,
        )
        return response

    def questionnaire(
        self,
        request: Request,
        token: str,
        link: OpenLink,
        answer_key: str,
        *,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        status: int = 200,
        urgent: bool = False,
    ) -> HTMLResponse:
        """The link's current questionnaire; `urgent` puts the crisis resources first (the
        PHQ-9 just sent had item 9 above zero, the GAD-7 follows it)."""
        form = FORMS[link.instrument]
        response = page(
            request,
            "patient_questionnaire.html",
            {
                "session": None,
                "title": TITLE,
                "action": f"{PATIENT_PREFIX}/{token}",
                "answer_key": answer_key,
                "prefix": form.prefix,
                "heading": form.heading,
                "stem": form.stem,
                "items": form.items,
                "choices": q.FREQUENCY_CHOICES,
                "errors": errors or {},
                "values": values or {},
                "urgent": urgent,
            },
            status_code=status,
        )
        response.set_cookie(
            ANSWER_COOKIE,
            answer_key,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path=PATIENT_PREFIX,
        )
        return response

    async def show(self, request: Request, token: str) -> HTMLResponse:
        found = await self.open(request, token)
        if not isinstance(found, OpenLink):
            return found
        if found.check_birth_date:
            return self.birth_date_form(request, token)
        key = await self._links.issue_answer_key(found)
        return self.questionnaire(request, token, found, key)

    async def check_birth_date(self, request: Request, token: str) -> HTMLResponse:
        found = await self.open(request, token)
        if not isinstance(found, OpenLink):
            return found
        form = await request.form()
        sent_csrf = form.get("csrf_token")
        if not csrf_matches(
            request.cookies.get(CSRF_COOKIE, ""), sent_csrf if isinstance(sent_csrf, str) else None
        ):
            return self.birth_date_form(
                request,
                token,
                errors={"birth_date": "This page was open too long: please enter it again."},
                status=403,
            )
        text = form.get("birth_date")
        text = text.strip() if isinstance(text, str) else ""
        try:
            given = date.fromisoformat(text)
        except ValueError:
            return self.birth_date_form(
                request,
                token,
                errors={"birth_date": "Enter your date of birth as year-month-day."},
                values={"birth_date": text[:32]},
                status=422,
            )
        now = self._services.deps.clock()
        key = await self._links.check_birth_date(found, given, now)
        if key is None:
            if await self._links.open_link(token, now) is None:
                return _unavailable(request)  # that was the last allowed try
            return self.birth_date_form(
                request,
                token,
                errors={"birth_date": "That date of birth does not match our records."},
                status=422,
            )
        return self.questionnaire(request, token, found, key)

    async def submit(self, request: Request, token: str) -> HTMLResponse:
        found = await self.open(request, token)
        if not isinstance(found, OpenLink):
            return found
        form = await request.form()
        sent_key = form.get("answer_key")
        key = sent_key if isinstance(sent_key, str) else None
        if (
            key is None
            or key != request.cookies.get(ANSWER_COOKIE)
            or not found.answer_key_matches(key)
        ):
            if found.check_birth_date:
                return self.birth_date_form(request, token, status=403)
            return await self.show(request, token)
        spec = FORMS[found.instrument]
        values = {k: v for k, v in form.items() if isinstance(v, str) and k.startswith(spec.prefix)}
        answers, errors = read_answers(spec, values)
        if errors or answers is None:
            return self.questionnaire(
                request, token, found, key, errors=errors, values=values, status=422
            )
        if await followup_of_link(self._services.deps.pool, found.link_id) is not None:
            return await self._record_followup(request, found, answers)
        submission = PatientMeasureSubmission(
            submission_id=found.submission_id,
            instrument=found.instrument.value,
            phq9=Phq9(items=answers) if found.instrument is Instrument.PHQ9 else None,
            gad7=Gad7(items=answers) if found.instrument is Instrument.GAD7 else None,
        )
        try:
            await self._services.episodes.submit(
                found.episode_id, Action.SUBMIT_PATIENT_MEASURE, submission
            )
        except ApiProblem as problem:
            if problem.status == 503:
                return _try_later(request)
            await self._links.mark_used(found, self._services.deps.clock())
            return _unavailable(request)  # closed episode, another answer recorded first
        urgent = found.instrument is Instrument.PHQ9 and phq9_self_harm(answers)
        following = await self._links.answered(found, self._services.deps.clock())
        if following is not None:  # the reassessment's next questionnaire (GAD-7)
            return self.questionnaire(request, token, following, key, urgent=urgent)
        return _thanks(request, urgent)

    async def _record_followup(
        self, request: Request, link: OpenLink, answers: list[int]
    ) -> HTMLResponse:
        """A 6- or 12-month follow-up after closure: the episode's workflow has ended, so
        the score is recorded in the store (`store.followups`), with the urgent care-team
        alert for item 9 > 0 in the same transaction."""
        recorded = await record_answer(
            self._services.deps.pool,
            link_id=link.link_id,
            instrument=link.instrument,
            answers=answers,
            now=self._services.deps.clock(),
            care_team_route=DEFAULT_CHANNEL,
        )
        if recorded is None:
            return _unavailable(request)
        return _thanks(request, recorded.urgent)


def _thanks(request: Request, urgent: bool) -> HTMLResponse:
    """The confirmation; crisis resources first when item 9 was above zero."""
    response = page(
        request,
        "patient_thanks.html",
        {"session": None, "title": "Thank you", "urgent": urgent},
    )
    response.delete_cookie(ANSWER_COOKIE, path=PATIENT_PREFIX)
    return response


def read_answers(
    spec: InstrumentForm, values: dict[str, str]
) -> tuple[list[int] | None, dict[str, str]]:
    """Every item answered 0-3, or the errors beside the items that are not."""
    answers: list[int] = []
    errors: dict[str, str] = {}
    for index, _text in enumerate(spec.items):
        name = f"{spec.prefix}.{index}"
        raw = values.get(name, "").strip()
        if raw not in ("0", "1", "2", "3"):
            errors[name] = f"Please answer question {index + 1}."
            continue
        answers.append(int(raw))
    return (None, errors) if errors else (answers, {})


def mount_patient_page(
    app: FastAPI, services: Services, settings: PatientPageSettings | None = None
) -> None:
    patient = PatientPage(services, settings or PatientPageSettings())
    router = APIRouter(include_in_schema=False)

    @router.get(PATIENT_PREFIX + "/{token}", response_class=HTMLResponse)
    async def show(request: Request, token: str) -> HTMLResponse:
        return await patient.show(request, token)

    @router.post(PATIENT_PREFIX + "/{token}/birth-date", response_class=HTMLResponse)
    async def birth_date(request: Request, token: str) -> HTMLResponse:
        return await patient.check_birth_date(request, token)

    @router.post(PATIENT_PREFIX + "/{token}", response_class=HTMLResponse)
    async def answer(request: Request, token: str) -> HTMLResponse:
        return await patient.submit(request, token)

    app.include_router(router)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactLinkTokens) for f in access.filters):
        access.addFilter(RedactLinkTokens())
