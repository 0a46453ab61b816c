"""`GET /v1/programs/{id}/outcomes?from&to`: the program report as JSON, CSV or PDF.

Scoped to the caller's programs (403 for another); a reversed period or one longer than
the policy's `report_max_days` is a 422; an Accept the report cannot meet is a 406. The
report holds counts and rates only; nothing of it is logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from api.auth import BEARER, Principal, authenticate
from api.deps import Services
from api.mutations import records_call
from api.problems import PROBLEM_MEDIA_TYPE, ApiProblem, FieldError
from api.reports.pdf import PdfUnavailable
from api.reports.program_report import report_csv, report_pdf
from api.routes import problems
from api.settings import ApiKey, Role
from rules.outcome_policy import OutcomePolicy
from schemas.outcomes_report import ProgramReport
from store.outcomes_report import program_report

# Who may read a program's outcomes (aggregates only: no patient appears in them).
REPORT_ROLES: Final = frozenset(
    {Role.PROGRAM_ADMIN, Role.UTILIZATION_REVIEW, Role.CLINIC_SYSTEM, Role.OPERATOR}
)
JSON, CSV, PDF = "application/json", "text/csv", "application/pdf"
REPORT_MEDIA: Final = (JSON, CSV, PDF)
# A report reads every episode of the program: more time than one episode's read.
REPORT_TIMEOUT_S = 60.0

NOT_ACCEPTABLE: Final[dict[int | str, dict[str, Any]]] = {
    406: {
        "description": "the Accept header names no type this resource is offered in",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


def _keys(request: Request) -> Mapping[str, ApiKey]:
    services: Services = request.app.state.services
    return services.deps.settings.api_keys


async def report_reader(
    request: Request, _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
) -> Principal:
    principal = authenticate(request.headers.get("authorization"), _keys(request))
    if principal.role not in REPORT_ROLES:
        raise ApiProblem(403, "role-forbidden", f"role '{principal.role}' may not read outcomes")
    return principal


Reader = Annotated[Principal, Depends(report_reader)]


def negotiate(accept: str | None, offered: tuple[str, ...]) -> str | None:
    """The offered media type the Accept header prefers (q-values, */*, type/*)."""
    if not accept or not accept.strip():
        return offered[0]
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media and q > 0:
            ranked.append((-q, position, media.lower()))
    for _, _, media in sorted(ranked):
        for candidate in offered:
            kind = candidate.split("/")[0]
            if media in (candidate, "*/*", f"{kind}/*"):
                return candidate
    return None


def check_period(first: date, last: date, policy: OutcomePolicy) -> None:
    if last < first:
        raise ApiProblem(
            422,
            "invalid-period",
            "the period's end is before its start",
            errors=[FieldError(field="query.to", message="must not be before 'from'")],
        )
    days = (last - first).days + 1
    if days > policy.report_max_days:
        raise ApiProblem(
            422,
            "invalid-period",
            f"the period covers {days} days; at most {policy.report_max_days}",
            errors=[
                FieldError(
                    field="query.to", message=f"at most {policy.report_max_days} days after 'from'"
                )
            ],
        )


async def build_report(
    services: Services, principal: Principal, program_id: str, first: date, last: date
) -> ProgramReport:
    """The report for a program the caller sees, after the period's checks."""
    principal.require_program(program_id)
    policy = OutcomePolicy()
    check_period(first, last, policy)
    return await records_call(
        program_report(
            services.deps.pool,
            program_id,
            first,
            last,
            as_of=services.deps.clock(),
            policy=policy,
            substance_use=program_id in services.deps.settings.part2_programs,
            time_zone=services.deps.settings.program_time_zone(program_id),
        ),
        timeout_s=REPORT_TIMEOUT_S,
    )


def filename(report: ProgramReport, extension: str) -> str:
    return f"outcomes-{report.program_id}-{report.period_from}-{report.period_to}.{extension}"


def build_outcomes_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["outcomes"])

    @router.get(
        "/programs/{program_id}/outcomes",
        response_model=ProgramReport,
        responses={
            200: {
                "content": {
                    CSV: {"schema": {"type": "string"}},
                    PDF: {"schema": {"type": "string", "format": "binary"}},
                },
                "description": "the report (JSON), or as CSV or PDF by Accept",
            },
            **problems(401, 403, 422, 503),
            **NOT_ACCEPTABLE,
        },
        summary="A program's outcomes for a period (JSON, CSV or PDF by Accept)",
    )
    async def program_outcomes(
        request: Request,
        program_id: Id,
        principal: Reader,
        first: Annotated[date, Query(alias="from", description="first day (UTC)")],
        last: Annotated[date, Query(alias="to", description="last day, inclusive (UTC)")],
    ) -> Response:
        media = negotiate(request.headers.get("accept"), REPORT_MEDIA)
        if media is None:
            raise ApiProblem(
                406, "not-acceptable", f"the report is offered as {', '.join(REPORT_MEDIA)}"
            )
        report = await build_report(services, principal, program_id, first, last)
        headers = {"Cache-Control": "no-store", "Vary": "Accept"}
        if media == CSV:
            headers["Content-Disposition"] = f'attachment; filename="{filename(report, "csv")}"'
            return Response(
                report_csv(report), media_type="text/csv; charset=utf-8", headers=headers
            )
        if media == PDF:
            try:
                pdf = report_pdf(report)
            except PdfUnavailable as missing:
                raise ApiProblem(503, "pdf-unavailable", str(missing)) from None
            headers["Content-Disposition"] = f'attachment; filename="{filename(report, "pdf")}"'
            return Response(pdf, media_type=PDF, headers=headers)
        return JSONResponse(report.model_dump(mode="json"), headers=headers)

    from api.episode_documents import build_documents_router

    router.include_router(build_documents_router(services, prefix=""))
    return router
