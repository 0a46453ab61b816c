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
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse

from api.deps import Services
from api.problems import ApiProblem
from api.workbench import questionnaires as q
from api.workbench.guard import csrf_matches
from api.workbench.patient_text import ENGLISH, InstrumentText, PatientText, PatientTranslations
from api.workbench.web import page
from rules.instruments import phq9_self_harm
from rules.transitions import Action
from schemas.submissions import Gad7, PatientMeasureSubmission, Phq9
from store.channels.contacts import patient_language
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
    translations: PatientTranslations = field(default_factory=PatientTranslations)


@dataclass(frozen=True)
class InstrumentForm:
    prefix: str
    items: int

    def text(self, t: PatientText) -> InstrumentText:
        return t.phq9 if self.prefix.startswith("phq9") else t.gad7


FORMS: Final[dict[Instrument, InstrumentForm]] = {
    Instrument.PHQ9: InstrumentForm("phq9.items", len(q.PHQ9_ITEMS)),
    Instrument.GAD7: InstrumentForm("gad7.items", len(q.GAD7_ITEMS)),
}
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


def _text(request: Request) -> PatientText:
    """The words for this request: the patient's language once the link is known
    (`PatientPage.open` keeps them on the request), English before."""
    found = getattr(request.state, "patient_text", None)
    return found if isinstance(found, PatientText) else ENGLISH


def _page(
    request: Request, template: str, context: dict[str, object], *, status: int = 200
) -> HTMLResponse:
    t = _text(request)
    return page(
        request,
        template,
        {"session": None, "t": t, "lang": t.language, **context},
        status_code=status,
    )


def _unavailable(request: Request, *, status: int = UNAVAILABLE_STATUS) -> HTMLResponse:
    t = _text(request)
    return _page(
        request,
        "patient_unavailable.html",
        {"title": t.unavailable_title, "message": t.unavailable_message},
        status=status,
    )


def _try_later(request: Request) -> HTMLResponse:
    t = _text(request)
    return _page(
        request,
        "patient_unavailable.html",
        {"title": t.try_later_title, "message": t.try_later_message},
        status=503,
    )


class PatientPage:
    def __init__(self, services: Services, settings: PatientPageSettings) -> None:
        self._services = services
        self._translations = settings.translations
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
        request.state.patient_text = await self._text_for(link)
        return link

    async def _text_for(self, link: OpenLink) -> PatientText:
        """The program's translation for the patient's language, else English."""
        if not self._translations.texts:
            return ENGLISH
        found = await patient_language(self._services.deps.pool, link.episode_id)
        if found is None:
            return ENGLISH
        return self._translations.for_patient(found.program_id, found.language)

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
        response = _page(
            request,
            "patient_birth_date.html",
            {
                "title": _text(request).title,
                "action": f"{PATIENT_PREFIX}/{token}/birth-date",
                "csrf_token": csrf,
                "errors": errors or {},
                "values": values or {},
            },
            status=status,
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
        t = _text(request)
        response = _page(
            request,
            "patient_questionnaire.html",
            {
                "title": t.title,
                "action": f"{PATIENT_PREFIX}/{token}",
                "answer_key": answer_key,
                "prefix": form.prefix,
                "instrument": form.text(t),
                "errors": errors or {},
                "values": values or {},
                "urgent": urgent,
            },
            status=status,
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
                errors={"birth_date": _text(request).birth_date_stale_form},
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
                errors={"birth_date": _text(request).birth_date_format_error},
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
                errors={"birth_date": _text(request).birth_date_mismatch},
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
        answers, errors = read_answers(spec, values, _text(request))
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
    response = _page(
        request, "patient_thanks.html", {"title": _text(request).thanks_title, "urgent": urgent}
    )
    response.delete_cookie(ANSWER_COOKIE, path=PATIENT_PREFIX)
    return response


def read_answers(
    spec: InstrumentForm, values: dict[str, str], t: PatientText = ENGLISH
) -> tuple[list[int] | None, dict[str, str]]:
    """Every item answered 0-3, or the errors beside the items that are not."""
    answers: list[int] = []
    errors: dict[str, str] = {}
    for index in range(spec.items):
        name = f"{spec.prefix}.{index}"
        raw = values.get(name, "").strip()
        if raw not in ("0", "1", "2", "3"):
            errors[name] = t.answer(index + 1)
            continue
        answers.append(int(raw))
    return (None, errors) if errors else (answers, {})


def mount_patient_page(
    app: FastAPI, services: Services, settings: PatientPageSettings | None = None
) -> None:
    if settings is None:
        directory = services.deps.settings.patient_translations_dir
        settings = PatientPageSettings(translations=PatientTranslations.load(directory))
    patient = PatientPage(services, settings)
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
