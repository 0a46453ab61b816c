"""The program outcomes page for supervisors (and program admins): the report's figures
with their methods, the SVG charts, and the PDF / CSV downloads of the same report."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.mutations import records_call
from api.outcomes import REPORT_TIMEOUT_S, check_period, filename
from api.problems import ApiProblem
from api.reports.charts import endings_svg, rates_svg
from api.reports.pdf import PdfUnavailable
from api.reports.program_report import report_csv, report_pdf
from api.workbench.accounts import PersonRole
from api.workbench.guard import PREFIX, signed_in_as, workbench_of
from api.workbench.sessions import Session
from api.workbench.web import page, problem_page
from rules.localtime import local_date
from rules.outcome_policy import OutcomePolicy
from schemas.outcomes_report import ProgramReport
from store.outcomes_report import program_report

OUTCOMES_ROLES: Final = frozenset({PersonRole.SUPERVISOR, PersonRole.PROGRAM_ADMIN})
Supervisor = Annotated[Session, Depends(signed_in_as(OUTCOMES_ROLES))]
ProgramQuery = Annotated[str, Query(max_length=64)]
DEFAULT_DAYS = 90
SVG_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


def build_outcomes_page_router() -> APIRouter:
    router = APIRouter(prefix=f"{PREFIX}/outcomes")

    async def report_for(
        request: Request, session: Session, program: str, first: date | None, last: date | None
    ) -> ProgramReport:
        workbench = workbench_of(request)
        settings = workbench.services.deps.settings
        today = local_date(workbench.clock(), settings.program_time_zone(program))
        last = last or today
        first = first or last - timedelta(days=DEFAULT_DAYS - 1)
        if not program or not session.account.sees(program):
            raise ApiProblem(404, "program-not-found", "choose one of your programs")
        policy = OutcomePolicy()
        check_period(first, last, policy)
        return await records_call(
            program_report(
                workbench.services.deps.pool,
                program,
                first,
                last,
                as_of=workbench.clock(),
                policy=policy,
                substance_use=program in settings.part2_programs,
                time_zone=settings.program_time_zone(program),
            ),
            timeout_s=REPORT_TIMEOUT_S,
        )

    async def choices(request: Request, session: Session) -> list[str]:
        visible = session.account.visible_programs()
        if visible is not None:
            return visible
        rows = await records_call(workbench_of(request).services.records.census(None))
        return sorted({row.program_id for row in rows})

    @router.get("", response_class=HTMLResponse)
    async def outcomes(
        request: Request,
        session: Supervisor,
        program: ProgramQuery = "",
        first: Annotated[date | None, Query(alias="from")] = None,
        last: Annotated[date | None, Query(alias="to")] = None,
    ) -> HTMLResponse:
        programs = await choices(request, session)
        program = program or (programs[0] if len(programs) == 1 else "")
        report = None
        if program:
            try:
                report = await report_for(request, session, program, first, last)
            except ApiProblem as problem:
                return problem_page(request, session, problem)
        query = (
            f"program={program}&from={report.period_from}&to={report.period_to}" if report else ""
        )
        return page(
            request,
            "outcomes.html",
            {
                "session": session,
                "programs": programs,
                "program": program,
                "report": report,
                "rates": report.rates() if report else {},
                "query": query,
            },
        )

    @router.get("/{chart}.svg")
    async def chart(
        request: Request,
        chart: str,
        session: Supervisor,
        program: ProgramQuery = "",
        first: Annotated[date | None, Query(alias="from")] = None,
        last: Annotated[date | None, Query(alias="to")] = None,
    ) -> Response:
        draw = {"rates": rates_svg, "endings": endings_svg}.get(chart)
        if draw is None:
            return Response(status_code=404)
        try:
            report = await report_for(request, session, program, first, last)
        except ApiProblem as problem:
            return Response(status_code=problem.status)
        return Response(draw(report), media_type="image/svg+xml", headers=SVG_HEADERS)

    @router.get("/report.{extension}")
    async def download(
        request: Request,
        extension: str,
        session: Supervisor,
        program: ProgramQuery = "",
        first: Annotated[date | None, Query(alias="from")] = None,
        last: Annotated[date | None, Query(alias="to")] = None,
    ) -> Response:
        if extension not in ("pdf", "csv"):
            return Response(status_code=404)
        try:
            report = await report_for(request, session, program, first, last)
        except ApiProblem as problem:
            return problem_page(request, session, problem)
        disposition = {
            "Content-Disposition": f'attachment; filename="{filename(report, extension)}"'
        }
        if extension == "csv":
            return Response(
                report_csv(report), media_type="text/csv; charset=utf-8", headers=disposition
            )
        try:
            return Response(report_pdf(report), media_type="application/pdf", headers=disposition)
        except PdfUnavailable as missing:
            return problem_page(request, session, ApiProblem(503, "pdf-unavailable", str(missing)))

    return router
