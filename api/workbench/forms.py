"""The forms people submit: one table row per form (its Workflow Update, body model,
id and actor fields, roles), and one pair of routes that serve them all.

A form is parsed into the same pydantic model the API takes, so errors come from the
same validation and appear beside the field they name. The person's actor is set from
the session, never typed. The submission goes through the API's own `Mutations` (audit
row, then the Update), so the engine's answer (decision, 409 with the allowed actions,
422) is the one an API client gets. Each form carries an id made when it was shown: a
double click or a reload re-sends that id, and the engine answers it once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError

from api.auth import Principal
from api.problems import ApiProblem
from api.settings import ApiKey
from api.workbench import questionnaires
from api.workbench.accounts import Account, PersonRole
from api.workbench.guard import CSRF_FIELD, PREFIX, signed_in_as, workbench_of
from api.workbench.roles import API_ROLE, PAGE_ROLES, Page
from api.workbench.sessions import Session
from api.workbench.web import Workbench, page, problem_page, visible_episode
from rules.levels import LevelOfCare
from rules.recommendation import Flag
from rules.transitions import Action
from schemas.episode import OpaqueId
from schemas.submissions import (
    AlertAcknowledgement,
    AlertResponse,
    AssessmentSubmission,
    AuthorizationDecision,
    AuthorizationKind,
    ClinicianDecision,
    CoverageSubmission,
    DecisionAction,
    EpisodeEvent,
    EpisodeEventKind,
    ReviewSubmission,
    Submission,
    UnitType,
)
from schemas.view import EngineDecision, EpisodeView

SUBMISSION_FIELD = "submission_ref"


@dataclass(frozen=True)
class FormSpec:
    action: Action
    slug: str
    title: str
    model: type[Submission]
    template: str
    roles: frozenset[PersonRole]
    # List fields and their length, so a skipped question is an error at its own item.
    lists: Mapping[str, int]

    @property
    def id_field(self) -> str:
        return self.model.id_field

    @property
    def actor_field(self) -> str:
        """The field the signed-in person's actor goes into (every form has one)."""
        assert self.model.actor_field is not None
        return self.model.actor_field


P = PersonRole
_MEASURES = {"phq9.items": 9, "gad7.items": 7, "cssrs.answers": 6}
FORMS: Final[Mapping[Action, FormSpec]] = {
    Action.SUBMIT_ASSESSMENT: FormSpec(
        Action.SUBMIT_ASSESSMENT,
        "assessment",
        "Assessment",
        AssessmentSubmission,
        "form_assessment.html",
        frozenset({P.CARE_TEAM}),
        _MEASURES,
    ),
    Action.SUBMIT_REVIEW: FormSpec(
        Action.SUBMIT_REVIEW,
        "review",
        "Weekly review",
        ReviewSubmission,
        "form_review.html",
        frozenset({P.CARE_TEAM}),
        _MEASURES,
    ),
    Action.DECIDE: FormSpec(
        Action.DECIDE,
        "decision",
        "Clinician decision",
        ClinicianDecision,
        "form_decision.html",
        frozenset({P.CARE_TEAM}),
        {},
    ),
    Action.SUBMIT_COVERAGE: FormSpec(
        Action.SUBMIT_COVERAGE,
        "coverage",
        "Coverage",
        CoverageSubmission,
        "form_coverage.html",
        frozenset({P.UTILIZATION_REVIEW}),
        {},
    ),
    Action.RECORD_AUTHORIZATION: FormSpec(
        Action.RECORD_AUTHORIZATION,
        "authorization",
        "Authorization decision",
        AuthorizationDecision,
        "form_authorization.html",
        frozenset({P.UTILIZATION_REVIEW}),
        {},
    ),
    Action.REPORT_EVENT: FormSpec(
        Action.REPORT_EVENT,
        "event",
        "Event report",
        EpisodeEvent,
        "form_event.html",
        frozenset({P.CARE_TEAM}),
        {},
    ),
    Action.ACKNOWLEDGE_ALERT: FormSpec(
        Action.ACKNOWLEDGE_ALERT,
        "acknowledge",
        "Acknowledge the risk alert",
        AlertAcknowledgement,
        "form_acknowledge.html",
        frozenset({P.CARE_TEAM}),
        {},
    ),
}
BY_SLUG: Final = {spec.slug: spec for spec in FORMS.values()}
# Choices the templates offer, from the same enums the models validate.
CHOICES: Final = {
    "levels": [level.value for level in LevelOfCare],
    "decision_actions": [a.value for a in DecisionAction],
    "authorization_kinds": [k.value for k in AuthorizationKind],
    "unit_types": [u.value for u in UnitType],
    "event_kinds": [k.value for k in EpisodeEventKind],
    "alert_responses": [r.value for r in AlertResponse],
    "instruments": ["LOCUS", "ASAM", "CALOCUS", "clinical"],
}


class _SubmissionRef(BaseModel):
    ref: OpaqueId


def unflatten(pairs: Iterable[tuple[str, str]], lists: Mapping[str, int]) -> dict[str, Any]:
    """Dotted form names → the nested body (`phq9.items.3` → {"phq9": {"items": [..]}}).

    Blank answers are None; a group with nothing filled in is left out (an optional
    measure not given); a list named in `lists` keeps its length so a skipped item is
    reported at its own index.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value.strip() or None
    finished = _finish(root, "", lists)
    return finished if isinstance(finished, dict) else {}


def _finish(node: Any, path: str, lists: Mapping[str, int]) -> Any:
    if not isinstance(node, dict):
        return node
    done = {k: _finish(v, f"{path}.{k}".lstrip("."), lists) for k, v in node.items()}
    if path in lists or (done and all(k.isdigit() for k in done)):
        size = max([lists.get(path, 0), *(int(k) + 1 for k in done if k.isdigit())])
        items = [done.get(str(i)) for i in range(size)]
        return None if all(v is None for v in items) else items
    kept = {k: v for k, v in done.items() if v is not None}
    return kept or None


def field_messages(error: ValidationError) -> dict[str, str]:
    """pydantic errors by dotted field name (no input echoed back); model-level under ''."""
    found: dict[str, str] = {}
    for item in error.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] in ("int_type", "int_parsing", "bool_parsing", "missing"):
            message = {
                "missing": "This is required.",
                "bool_parsing": "Choose yes or no.",
            }.get(item["type"], "Choose or enter a whole number.")
        found.setdefault(name, message)
    return found


def _engine_field(message: str, spec: FormSpec) -> str:
    """Attach an engine refusal to the field it names (e.g. override_reason), else ''."""
    for name in sorted(spec.model.model_fields, key=len, reverse=True):
        if name in message and name not in (spec.id_field, spec.actor_field):
            return name
    return ""


def principal_for(account: Account) -> Principal:
    """The API principal a person submits as: their role's API role and their programs."""
    role = API_ROLE.get(account.role)
    if role is None:
        raise ApiProblem(403, "role-forbidden", f"the role '{account.role}' submits nothing")
    return Principal(
        key=ApiKey(role=role, programs=account.programs, actor=account.actor),
        owner=f"web-account-{account.account_id}",
    )


def _context(
    session: Session,
    spec: FormSpec,
    view: EpisodeView,
    *,
    submission_ref: str,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    refused: ApiProblem | None = None,
) -> dict[str, object]:
    return {
        "session": session,
        "spec": spec,
        "view": view,
        "submission_ref": submission_ref,
        "values": values,
        "errors": errors,
        "refused": refused,
        "choices": CHOICES,
        "q": questionnaires,
        "risk_open": Flag.RISK in view.flags,
        "form_action": f"{PREFIX}/episodes/{view.episode_id}/{spec.slug}",
    }


Reader = Annotated[Session, Depends(signed_in_as(PAGE_ROLES[Page.EPISODE]))]
Slug = Annotated[str, Path(pattern="^(" + "|".join(BY_SLUG) + ")$")]


def build_forms_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)

    def spec_for(slug: str, session: Session) -> FormSpec:
        spec = BY_SLUG[slug]
        if session.account.role not in spec.roles:
            raise ApiProblem(
                403, "role-forbidden", f"the role '{session.account.role}' may not send this form"
            )
        return spec

    def not_now(spec: FormSpec, view: EpisodeView) -> ApiProblem:
        allowed = [a.value for a in view.allowed_actions]
        return ApiProblem(
            409,
            "transition-not-allowed",
            f"'{spec.action.value}' is not allowed in phase '{view.phase.value}'",
            allowed_actions=allowed,
        )

    @router.get("/episodes/{episode_id}/{slug}", response_class=HTMLResponse)
    async def show_form(
        request: Request, episode_id: str, slug: Slug, session: Reader
    ) -> HTMLResponse:
        workbench = workbench_of(request)
        try:
            spec = spec_for(slug, session)
            view = await visible_episode(workbench, session.account, episode_id)
        except ApiProblem as problem:
            return problem_page(request, session, problem)
        refused = None if spec.action in view.allowed_actions else not_now(spec, view)
        return page(
            request,
            spec.template,
            _context(
                session,
                spec,
                view,
                submission_ref=uuid.uuid4().hex,
                values={},
                errors={},
                refused=refused,
            ),
            status_code=409 if refused else 200,
        )

    @router.post("/episodes/{episode_id}/{slug}", response_class=HTMLResponse)
    async def submit_form(
        request: Request, episode_id: str, slug: Slug, session: Reader
    ) -> HTMLResponse:
        workbench = workbench_of(request)
        try:
            spec = spec_for(slug, session)
            view = await visible_episode(workbench, session.account, episode_id)
        except ApiProblem as problem:
            return problem_page(request, session, problem)
        form = await request.form()
        values = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != CSRF_FIELD}
        ref = values.pop(SUBMISSION_FIELD, "")
        try:
            submission_ref = _SubmissionRef(ref=ref).ref
        except ValidationError:
            submission_ref = uuid.uuid4().hex  # a tampered id: show the form again, fresh

        def again(
            errors: Mapping[str, str], refused: ApiProblem | None, status: int
        ) -> HTMLResponse:
            return page(
                request,
                spec.template,
                _context(
                    session,
                    spec,
                    view,
                    submission_ref=submission_ref,
                    values=values,
                    errors=errors,
                    refused=refused,
                ),
                status_code=status,
            )

        pairs = [
            (k, v)
            for k, v in form.multi_items()
            if isinstance(v, str) and k not in (CSRF_FIELD, SUBMISSION_FIELD)
        ]
        body = unflatten(pairs, spec.lists)
        body[spec.id_field] = submission_ref
        body[spec.actor_field] = session.account.actor
        try:
            submission = spec.model.model_validate(body)
        except ValidationError as invalid:
            return again(field_messages(invalid), None, 422)
        try:
            decision = await submit(workbench, request, session, spec, episode_id, submission)
        except ApiProblem as problem:
            if problem.status == 409:
                return again({}, problem, 409)
            if problem.status == 422:
                return again({_engine_field(problem.detail, spec): problem.detail}, None, 422)
            return problem_page(request, session, problem)
        return page(
            request,
            "decision.html",
            {"session": session, "spec": spec, "view": view, "decision": decision},
        )

    return router


async def submit(
    workbench: Workbench,
    request: Request,
    session: Session,
    spec: FormSpec,
    episode_id: str,
    body: Submission,
) -> EngineDecision:
    """Through the API's Mutations (audit row, then the Update); problems re-raised."""
    services = workbench.services
    principal = principal_for(session.account)
    principal.require_program(await services.programs.program_of(episode_id))

    async def work() -> tuple[int, BaseModel]:
        return 200, await services.episodes.submit(episode_id, spec.action, body)

    response = await services.mutations.run(
        request,
        principal,
        operation=spec.action,
        episode_id=episode_id,
        submission_id=body.identifier(),
        work=work,
    )
    answer = json.loads(bytes(response.body))
    if response.status_code >= 400:
        raise ApiProblem(
            response.status_code,
            str(answer.get("type", "")).rsplit("/", 1)[-1] or "problem",
            str(answer.get("detail", "")),
            allowed_actions=answer.get("allowed_actions"),
        )
    return EngineDecision.model_validate(answer)
