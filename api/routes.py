"""The `/v1` routes: thin — authenticate, check the program, hand over to the engine.

Each submission route is explicit (its body type documents the endpoint); they share
`_submit`, which checks the actor, runs the call through `Mutations` and returns the
engine's decision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import examples
from api.attendance_check import review_matches_attendance
from api.auth import Operation, Principal, require
from api.deps import Services
from api.episode_records import TimelineEntry
from api.episode_week import with_week
from api.idempotency import MAX_KEY_LENGTH
from api.mutations import IDEMPOTENCY_HEADER, records_call
from api.paging import EpisodeListPage
from api.patients import keep_member_ids
from api.patients import start_episode as start_patient_episode
from api.problems import PROBLEM_MEDIA_TYPE, ApiProblem, FieldError
from api.settings import ALL_PROGRAMS, ApiKey
from rules.levels import LevelOfCare
from rules.transitions import Action, CarePhase
from schemas.episode import EpisodeStart
from schemas.submissions import (
    AlertAcknowledgement,
    AssessmentSubmission,
    AuthorizationDecision,
    ClinicianDecision,
    CoverageSubmission,
    EpisodeEvent,
    ReviewSubmission,
    Submission,
)
from schemas.text import PlainText
from schemas.view import EngineDecision, EpisodeView
from store.models import CensusRow, EpisodeFilter
from store.queries import MAX_PAGE
from store.review_packets import keep_disclosure_terms

EpisodeId = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
]


def _keys(request: Request) -> Mapping[str, ApiKey]:
    services: Services = request.app.state.services
    return services.deps.settings.api_keys


Starter = Annotated[Principal, Depends(require(Operation.START_EPISODE, _keys))]
CensusReader = Annotated[Principal, Depends(require(Operation.LIST_EPISODES, _keys))]
EpisodeReader = Annotated[Principal, Depends(require(Operation.READ_EPISODE, _keys))]
TimelineReader = Annotated[Principal, Depends(require(Operation.READ_TIMELINE, _keys))]
Assessor = Annotated[Principal, Depends(require(Action.SUBMIT_ASSESSMENT, _keys))]
CoverageRecorder = Annotated[Principal, Depends(require(Action.SUBMIT_COVERAGE, _keys))]
AuthorizationRecorder = Annotated[Principal, Depends(require(Action.RECORD_AUTHORIZATION, _keys))]
Reviewer = Annotated[Principal, Depends(require(Action.SUBMIT_REVIEW, _keys))]
Decider = Annotated[Principal, Depends(require(Action.DECIDE, _keys))]
EventReporter = Annotated[Principal, Depends(require(Action.REPORT_EVENT, _keys))]
AlertAcknowledger = Annotated[Principal, Depends(require(Action.ACKNOWLEDGE_ALERT, _keys))]

_Route = Callable[..., Awaitable[JSONResponse]]

_TEXT = {
    400: "the body is not parseable JSON",
    401: "no or unknown API key",
    403: "the key's role may not do this, or may not see the program named in the request",
    404: "no such episode, or one in a program the key may not see (the same answer)",
    409: (
        "the episode's phase does not allow this action (see allowed_actions), or "
        "(submission-conflict) the submission ID was already used for this kind with "
        "different content"
    ),
    422: "the request is not valid (see errors), or an Idempotency-Key was reused",
    503: (
        "Temporal or PostgreSQL is unreachable or too slow (see Retry-After); retry the same "
        "request with the same Idempotency-Key and submission ID, which is always safe"
    ),
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {
            "description": _TEXT[code],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for code in codes
    }


_READ = problems(401, 403, 404, 422, 503)
_WRITE = problems(400, 401, 403, 404, 409, 422, 503)


def idempotency_doc() -> dict[str, Any]:
    return {
        "parameters": [
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": False,
                "description": (
                    "a retry with the same key and body gets the first answer back; while the "
                    "first request runs, 409 request-in-progress with Retry-After; a request "
                    "that never finished frees its key after a lease (60 s by default)"
                ),
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_KEY_LENGTH,
                    "pattern": "^[\\x20-\\x7E]*$",
                },
            }
        ]
    }


# C901 counts every nested route handler into the factory (see build_groups_router).
def build_router(services: Services) -> APIRouter:  # noqa: C901
    router = APIRouter(prefix="/v1", tags=["episodes"])

    @router.post(
        "/episodes",
        status_code=201,
        response_model=EpisodeView,
        responses={
            200: {"model": EpisodeView, "description": "already started with this same body"},
            **problems(400, 401, 403, 409, 422, 503),
        },
        openapi_extra=idempotency_doc(),
        summary="Start an episode (idempotent on episode_id)",
    )
    async def start_episode(
        request: Request,
        start: Annotated[EpisodeStart, Body(openapi_examples=examples.EPISODE_START)],
        principal: Starter,
    ) -> JSONResponse:
        principal.require_program(start.program_id)
        fingerprint = start.fingerprint()  # the body as received, patient data and all
        start = start.with_part2(start.program_id in services.deps.settings.part2_programs)

        async def work() -> tuple[int, BaseModel]:
            # Part 2 status and payer-disclosure consent, for the review packets' check.
            await keep_disclosure_terms(services.deps.pool, start, services.deps.clock())
            created = await start_patient_episode(
                services.episodes, services.deps.pool, start, fingerprint
            )
            services.programs.remember(start.episode_id, start.program_id)
            view = await services.episodes.state(start.episode_id)
            return (201 if created else 200), view

        return await services.mutations.run(
            request,
            principal,
            operation=Operation.START_EPISODE,
            episode_id=start.episode_id,
            submission_id=None,
            work=work,
        )

    def visible_programs(principal: Principal, program: str | None) -> list[str] | None:
        if program is not None:
            principal.require_program(program)
            return [program]
        if ALL_PROGRAMS in principal.key.programs:
            return None
        return sorted(principal.key.programs)

    @router.get(
        "/episodes",
        response_model=EpisodeListPage,
        responses=problems(401, 403, 422, 503),
        summary="Episodes from the records, filtered and paged by cursor (soonest review first)",
    )
    async def list_episodes(
        principal: CensusReader,
        program: Annotated[PlainText | None, Query(min_length=1, max_length=64)] = None,
        phase: CarePhase | None = None,
        level: LevelOfCare | None = None,
        review_due_before: datetime | None = None,
        overdue: Annotated[
            bool | None, Query(description="true: only overdue; false: none overdue")
        ] = None,
        risk_flag: bool | None = None,
        authorization_expiring_within_days: Annotated[int | None, Query(ge=0, le=365)] = None,
        include_closed: bool = False,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        cursor: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=512,
                pattern=r"^[A-Za-z0-9_.\-]+$",
                description="`next_cursor` of the previous page, with the same filters",
            ),
        ] = None,
        count_total: Annotated[
            bool,
            Query(
                description="also count every matching episode (`total`); costs a scan of"
                " the matches, so off by default"
            ),
        ] = False,
        offset: Annotated[str | None, Query(include_in_schema=False)] = None,
    ) -> EpisodeListPage:
        if offset is not None:
            raise ApiProblem(
                422,
                "offset-removed",
                "offset paging was removed: page with cursor=<next_cursor of the last page>",
                errors=[FieldError(field="query.offset", message="not accepted; use cursor")],
            )
        where = EpisodeFilter(
            programs=visible_programs(principal, program),
            phase=phase,
            level=level,
            review_due_before=review_due_before,
            overdue=overdue,
            risk_flag=risk_flag,
            authorization_expiring_within_days=authorization_expiring_within_days,
            include_closed=include_closed,
        )
        after = None if cursor is None else services.cursors.decode(where, cursor)
        found = await records_call(
            services.records.list_episodes(
                where, now=services.deps.clock(), limit=limit, after=after, count=count_total
            )
        )
        return services.cursors.page(where, found)

    @router.get(
        "/census",
        response_model=list[CensusRow],
        responses=problems(401, 403, 422, 503),
        summary="Open episodes counted by program, delivered level and phase",
    )
    async def census(
        principal: CensusReader,
        program: Annotated[PlainText | None, Query(min_length=1, max_length=64)] = None,
    ) -> list[CensusRow]:
        return await records_call(services.records.census(visible_programs(principal, program)))

    @router.get(
        "/episodes/{episode_id}",
        response_model=EpisodeView,
        responses=_READ,
        summary="Live state of one episode (the workflow's `state` query)",
    )
    async def get_episode(episode_id: EpisodeId, principal: EpisodeReader) -> EpisodeView:
        view = await services.episodes.state(episode_id)
        principal.require_episode(episode_id, view.program_id)
        services.programs.remember(episode_id, view.program_id)
        return await with_week(services.deps.pool, view, services.deps.clock())

    @router.get(
        "/episodes/{episode_id}/timeline",
        response_model=list[TimelineEntry],
        responses=_READ,
        summary="The audit trail: transitions and API calls, oldest first",
    )
    async def get_timeline(episode_id: EpisodeId, principal: TimelineReader) -> list[TimelineEntry]:
        principal.require_episode(episode_id, await services.programs.program_of(episode_id))
        return await records_call(services.records.timeline(episode_id))

    async def _submit(
        request: Request,
        principal: Principal,
        episode_id: str,
        action: Action,
        body: Submission,
    ) -> JSONResponse:
        if body.submitted_by() != principal.actor and not principal.key.acts_for_others:
            raise ApiProblem(
                403,
                "actor-forbidden",
                f"this key acts as '{principal.actor}' and may not submit for another actor",
            )
        principal.require_episode(episode_id, await services.programs.program_of(episode_id))

        async def work() -> tuple[int, BaseModel]:
            submission = await keep_member_ids(services.deps.pool, episode_id, body)
            decision = await services.episodes.submit(episode_id, action, submission)
            return 200, decision

        return await services.mutations.run(
            request,
            principal,
            operation=action,
            episode_id=episode_id,
            submission_id=body.identifier(),
            work=work,
        )

    def submission(path: str, summary: str) -> Callable[[_Route], _Route]:
        return router.post(
            path,
            summary=summary,
            response_model=EngineDecision,
            responses=_WRITE,
            openapi_extra=idempotency_doc(),
        )

    @submission("/episodes/{episode_id}/assessment", "Assessment results")
    async def submit_assessment(
        request: Request,
        episode_id: EpisodeId,
        body: Annotated[AssessmentSubmission, Body(openapi_examples=examples.ASSESSMENT)],
        principal: Assessor,
    ) -> JSONResponse:
        return await _submit(request, principal, episode_id, Action.SUBMIT_ASSESSMENT, body)

    @submission("/episodes/{episode_id}/coverage", "Coverage details, or self-pay")
    async def submit_coverage(
        request: Request,
        episode_id: EpisodeId,
        body: Annotated[CoverageSubmission, Body(openapi_examples=examples.COVERAGE)],
        principal: CoverageRecorder,
    ) -> JSONResponse:
        return await _submit(request, principal, episode_id, Action.SUBMIT_COVERAGE, body)

    @submission("/episodes/{episode_id}/authorizations", "A payer's authorization decision")
    async def record_authorization(
        request: Request,
        episode_id: EpisodeId,
        body: Annotated[AuthorizationDecision, Body(openapi_examples=examples.AUTHORIZATION)],
        principal: AuthorizationRecorder,
    ) -> JSONResponse:
        return await _submit(request, principal, episode_id, Action.RECORD_AUTHORIZATION, body)

    @submission(
        "/episodes/{episode_id}/reviews", "A weekly review; the engine's decision comes back"
    )
    async def submit_review(
        request: Request,
        episode_id: EpisodeId,
        body: Annotated[ReviewSubmission, Body(openapi_examples=examples.REVIEW)],
        principal: Reviewer,
    ) -> JSONResponse:
        program = await services.programs.program_of(episode_id)
        principal.require_episode(episode_id, program)
        await review_matches_attendance(  # the IOP week: a summary the rosters contradict
            services.deps.pool, program, episode_id, body, services.deps.clock()
        )
        return await _submit(request, principal, episode_id, Action.SUBMIT_REVIEW, body)

    @submission("/episodes/{episode_id}/decisions", "The clinician's decision on a recommendation")
    async def decide(
        request: Request,
        episode_id: EpisodeId,
        body: Annotated[ClinicianDecision, Body(openapi_examples=examples.DECISION)],
        principal: Decider,
    ) -> JSONResponse:
        return await _submit(request, principal, episode_id, Action.DECIDE, body)

    @submission(
        "/episodes/{episode_id}/events", "Admission, discharge, withdrawal, entered-in-error"
    )
    async def report_event(
        request: Request,
        episode_id: EpisodeId,
        body: Annotated[EpisodeEvent, Body(openapi_examples=examples.EVENT)],
        principal: EventReporter,
    ) -> JSONResponse:
        return await _submit(request, principal, episode_id, Action.REPORT_EVENT, body)

    @submission(
        "/episodes/{episode_id}/alert-acknowledgements",
        "The care team has seen the open risk alert, and says what was done",
    )
    async def acknowledge_alert(
        request: Request,
        episode_id: EpisodeId,
        body: Annotated[AlertAcknowledgement, Body(openapi_examples=examples.ACKNOWLEDGEMENT)],
        principal: AlertAcknowledger,
    ) -> JSONResponse:
        return await _submit(request, principal, episode_id, Action.ACKNOWLEDGE_ALERT, body)

    return router
