"""`/v1` routes for the IOP week: groups, sessions, assignments, rosters, billable days.

Groups live in PostgreSQL only (no workflow is asked, except to check that an episode is
enrolled at the group's level before it is seated). A roster is one transaction.

Every write runs through `api.mutations.Mutations.run`, as the episode writes do: it
honours `Idempotency-Key` (a replay gets the stored answer, a key reused with another body
422, a request still running 409) and leaves an `api_calls` row naming the group, session
or program it changes (`subject`), and the episode too for an assignment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date, timedelta
from typing import Annotated, TypeVar

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.auth import Guarded, Operation, Principal, require
from api.deps import Services
from api.mutations import records_call
from api.notice_delivery import deliver_pending
from api.problems import ApiProblem, FieldError
from api.routes import idempotency_doc, problems
from api.settings import ALL_PROGRAMS, ApiKey
from rules.attendance_policy import AttendancePolicy
from rules.transitions import Action, CarePhase
from schemas.groups import (
    AdHocSession,
    Assignment,
    AssignmentRequest,
    AttendanceRecord,
    Cancellation,
    Group,
    GroupChange,
    GroupSpec,
    Roster,
    RosterOutcome,
    RosterResult,
    Session,
)
from schemas.text import PlainText
from store import attendance as attendance_store
from store import attendance_notices as notices
from store import billing
from store import groups as store
from store import week_view as weeks
from store.attendance import RosterRefused
from store.dbtypes import Conn
from store.groups import GroupsRefused

T = TypeVar("T")

UNCHANGED = RosterOutcome.UNCHANGED
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


def _keys(request: Request) -> Mapping[str, ApiKey]:
    services: Services = request.app.state.services
    return services.deps.settings.api_keys


Manager = Annotated[Principal, Depends(require(Operation.MANAGE_GROUPS, _keys))]
Reader = Annotated[Principal, Depends(require(Operation.READ_GROUPS, _keys))]
Assigner = Annotated[Principal, Depends(require(Operation.ASSIGN_GROUPS, _keys))]
Recorder = Annotated[Principal, Depends(require(Action.RECORD_ATTENDANCE, _keys))]
Biller = Annotated[Principal, Depends(require(Operation.READ_BILLABLE_DAYS, _keys))]

_READ = problems(401, 403, 404, 422, 503)
_WRITE = problems(400, 401, 403, 404, 409, 422, 503)
_IDEMPOTENT = idempotency_doc()


def _refused(error: GroupsRefused | RosterRefused) -> ApiProblem:
    if isinstance(error, GroupsRefused):
        errors = (
            [FieldError(field=f"body.{error.field}", message=error.detail)] if error.field else None
        )
        return ApiProblem(error.status, error.slug, error.detail, errors=errors)
    return ApiProblem(
        error.status,
        error.slug,
        error.detail,
        errors=[FieldError(field=f, message=m) for f, m in error.errors] or None,
    )


def _json(status: int, model: BaseModel | list[BaseModel]) -> JSONResponse:
    if isinstance(model, list):
        return JSONResponse([m.model_dump(mode="json") for m in model], status_code=status)
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


# C901 counts every nested route handler into the factory: the sum of some twenty small
# routes, none of them near the ceiling on its own.
def build_groups_router(services: Services) -> APIRouter:  # noqa: C901
    router = APIRouter(prefix="/v1", tags=["groups"])
    pool: asyncpg.Pool = services.deps.pool
    clock = services.deps.clock

    async def write(change: Callable[[Conn], Awaitable[T]]) -> T:
        """One change in one transaction: an outage is a 503, a refusal its own problem."""

        async def work() -> T:
            async with pool.acquire() as conn, conn.transaction():
                return await change(conn)

        try:
            return await records_call(work())
        except GroupsRefused as error:
            raise _refused(error) from None

    async def audited(
        request: Request,
        principal: Principal,
        operation: Guarded,
        work: Callable[[], Awaitable[tuple[int, BaseModel]]],
        *,
        subject: str,
        episode_id: str | None = None,
    ) -> JSONResponse:
        """A write through `Mutations.run`: claimed, audited, answered once per key."""
        return await services.mutations.run(
            request,
            principal,
            operation=operation,
            episode_id=episode_id,
            submission_id=None,
            work=work,
            subject=subject,
        )

    async def visible_group(principal: Principal, group_id: str) -> Group:
        group = await records_call(store.get_group(pool, group_id))
        if group is None or not principal.key.sees(group.program_id):
            raise ApiProblem(404, "group-not-found", f"no group '{group_id}'")
        return group

    async def visible_session(principal: Principal, session_id: str) -> Session:
        session = await records_call(store.get_session(pool, session_id))
        if session is None or not principal.key.sees(session.program_id):
            raise ApiProblem(404, "session-not-found", f"no session '{session_id}'")
        return session

    @router.put(
        "/programs/{program_id}/attendance-policy",
        response_model=AttendancePolicy,
        responses=_WRITE,
        openapi_extra=_IDEMPOTENT,
        summary="A program's attendance settings (source, windows, thresholds, billing codes)",
    )
    async def put_attendance_policy(
        request: Request, program_id: Id, policy: AttendancePolicy, principal: Manager
    ) -> JSONResponse:
        principal.require_program(program_id)

        async def work() -> tuple[int, BaseModel]:
            await records_call(
                store.put_policy(pool, program_id, policy, by=principal.actor, now=clock())
            )
            return 200, policy

        return await audited(request, principal, Operation.MANAGE_GROUPS, work, subject=program_id)

    @router.get(
        "/programs/{program_id}/attendance-policy",
        response_model=AttendancePolicy,
        responses=_READ,
        summary="A program's attendance settings (the defaults until a program-admin sets them)",
    )
    async def get_attendance_policy(program_id: Id, principal: Reader) -> AttendancePolicy:
        principal.require_program(program_id)
        return await records_call(store.get_policy(pool, program_id))

    @router.post(
        "/groups",
        status_code=201,
        response_model=Group,
        responses={200: {"model": Group, "description": "already defined so"}, **_WRITE},
        openapi_extra=_IDEMPOTENT,
        summary="Define a group and its weekly schedule; sessions are generated ahead",
    )
    async def create_group(request: Request, spec: GroupSpec, principal: Manager) -> JSONResponse:
        principal.require_program(spec.program_id)

        async def work() -> tuple[int, BaseModel]:
            policy = await records_call(store.get_policy(pool, spec.program_id))
            created = await write(
                lambda conn: store.create_group(
                    conn, spec, now=clock(), ahead_days=policy.generate_ahead_days
                )
            )
            group = await records_call(store.get_group(pool, spec.group_id))
            assert group is not None
            return (201 if created else 200), group

        return await audited(
            request, principal, Operation.MANAGE_GROUPS, work, subject=spec.group_id
        )

    @router.get(
        "/groups",
        response_model=list[Group],
        responses=problems(401, 403, 422, 503),
        summary="Groups with seats used and free and the waiting list's length (the census)",
    )
    async def list_groups(
        principal: Reader,
        program: Annotated[PlainText | None, Query(min_length=1, max_length=64)] = None,
    ) -> list[Group]:
        if program is not None:
            principal.require_program(program)
            programs: list[str] | None = [program]
        elif ALL_PROGRAMS in principal.key.programs:
            programs = None
        else:
            programs = sorted(principal.key.programs)
        return await records_call(store.list_groups(pool, programs))

    @router.get("/groups/{group_id}", response_model=Group, responses=_READ, summary="One group")
    async def get_group(group_id: Id, principal: Reader) -> Group:
        return await visible_group(principal, group_id)

    @router.patch(
        "/groups/{group_id}",
        response_model=Group,
        responses=_WRITE,
        openapi_extra=_IDEMPOTENT,
        summary="Change capacity, facilitator or name (capacity never below the seats taken)",
    )
    async def change_group(
        request: Request, group_id: Id, change: GroupChange, principal: Manager
    ) -> JSONResponse:
        await visible_group(principal, group_id)

        async def work() -> tuple[int, BaseModel]:
            changed: Group = await write(
                lambda conn: store.change_group(conn, group_id, change, now=clock())
            )
            return 200, changed

        return await audited(request, principal, Operation.MANAGE_GROUPS, work, subject=group_id)

    @router.get(
        "/groups/{group_id}/sessions",
        response_model=list[Session],
        responses=_READ,
        summary="The group's sessions in a date range (generated ahead from its schedule)",
    )
    async def list_sessions(
        group_id: Id,
        principal: Reader,
        first: Annotated[date, Query(alias="from")],
        last: Annotated[date, Query(alias="to")],
    ) -> list[Session]:
        await visible_group(principal, group_id)
        if last < first or (last - first).days > 366:
            raise ApiProblem(
                422,
                "invalid-request",
                "the range runs from `from` to `to`, at most 366 days",
                errors=[FieldError(field="query.to", message="before from, or too far")],
            )
        await _generate_ahead(group_id)
        return await records_call(store.list_sessions(pool, group_id, first, last))

    async def _generate_ahead(group_id: str) -> None:
        group = await records_call(store.get_group(pool, group_id))
        assert group is not None
        policy = await records_call(store.get_policy(pool, group.program_id))
        through = clock().date() + timedelta(days=policy.generate_ahead_days)

        async def work() -> int:
            async with pool.acquire() as conn, conn.transaction():
                return await store.generate_sessions(conn, group_id, through=through)

        await records_call(work())

    @router.post(
        "/groups/{group_id}/sessions",
        status_code=201,
        response_model=Session,
        responses={200: {"model": Session, "description": "already added so"}, **_WRITE},
        openapi_extra=_IDEMPOTENT,
        summary="An ad-hoc session",
    )
    async def add_session(
        request: Request, group_id: Id, body: AdHocSession, principal: Manager
    ) -> JSONResponse:
        group = await visible_group(principal, group_id)

        async def work() -> tuple[int, BaseModel]:
            session, created = await write(lambda conn: store.add_session(conn, group, body))
            return (201 if created else 200), session

        return await audited(request, principal, Operation.MANAGE_GROUPS, work, subject=group_id)

    @router.post(
        "/sessions/{session_id}/cancel",
        response_model=Session,
        responses=_WRITE,
        openapi_extra=_IDEMPOTENT,
        summary="The program cancels a session (a holiday): not a patient's absence",
    )
    async def cancel_session(
        request: Request, session_id: Id, body: Cancellation, principal: Manager
    ) -> JSONResponse:
        await visible_session(principal, session_id)

        async def work() -> tuple[int, BaseModel]:
            cancelled: Session = await write(
                lambda conn: store.cancel_session(
                    conn, session_id, reason=body.reason, by=principal.actor, now=clock()
                )
            )
            return 200, cancelled

        return await audited(request, principal, Operation.MANAGE_GROUPS, work, subject=session_id)

    @router.get(
        "/groups/{group_id}/members",
        response_model=list[Assignment],
        responses=_READ,
        summary="Who is seated, and the waiting list in order",
    )
    async def members(group_id: Id, principal: Reader) -> list[Assignment]:
        await visible_group(principal, group_id)
        return await records_call(store.group_members(pool, group_id))

    @router.post(
        "/groups/{group_id}/assignments",
        status_code=201,
        response_model=Assignment,
        responses={
            200: {"model": Assignment, "description": "already assigned or waiting"},
            **_WRITE,
        },
        openapi_extra=_IDEMPOTENT,
        summary="Seat an enrolled episode in a group of its delivered level (or wait for a seat)",
    )
    async def assign(
        request: Request, group_id: Id, body: AssignmentRequest, principal: Assigner
    ) -> JSONResponse:
        group = await visible_group(principal, group_id)
        view = await services.episodes.state(body.episode_id)
        principal.require_episode(body.episode_id, view.program_id)

        if view.program_id != group.program_id:
            raise ApiProblem(
                422,
                "episode-in-another-program",
                f"episode '{body.episode_id}' is not in program '{group.program_id}'",
                errors=[FieldError(field="body.episode_id", message="another program")],
            )
        if view.phase is not CarePhase.IN_TREATMENT or view.delivered_level is not group.level:
            delivered = view.delivered_level.value if view.delivered_level else "none"
            raise ApiProblem(
                409,
                "episode-not-at-group-level",
                f"episode '{body.episode_id}' is {view.phase.value} at level {delivered}; "
                f"group '{group_id}' is {group.level.value}",
                allowed_actions=[],
            )

        async def work() -> tuple[int, BaseModel]:
            assignment, created = await write(
                lambda conn: store.assign(
                    conn,
                    group_id,
                    body.episode_id,
                    group.level,
                    wait_if_full=body.wait_if_full,
                    now=clock(),
                )
            )
            return (201 if created else 200), assignment

        return await audited(
            request,
            principal,
            Operation.ASSIGN_GROUPS,
            work,
            subject=group_id,
            episode_id=body.episode_id,
        )

    @router.delete(
        "/groups/{group_id}/assignments/{episode_id}",
        response_model=Assignment,
        responses=_WRITE,
        openapi_extra=_IDEMPOTENT,
        summary="End an episode's place in a group (its seat goes to the waiting list)",
    )
    async def unassign(
        request: Request, group_id: Id, episode_id: Id, principal: Assigner
    ) -> JSONResponse:
        await visible_group(principal, group_id)

        async def work() -> tuple[int, BaseModel]:
            ended: Assignment = await write(
                lambda conn: store.end_assignment(
                    conn, group_id, episode_id, reason="unassigned", now=clock()
                )
            )
            return 200, ended

        return await audited(
            request,
            principal,
            Operation.ASSIGN_GROUPS,
            work,
            subject=group_id,
            episode_id=episode_id,
        )

    @router.get(
        "/episodes/{episode_id}/groups",
        response_model=list[Assignment],
        responses=_READ,
        summary="The episode's groups, past and present, with its waiting-list positions",
    )
    async def episode_groups(episode_id: Id, principal: Reader) -> list[Assignment]:
        principal.require_episode(episode_id, await services.programs.program_of(episode_id))
        return await records_call(store.episode_assignments(pool, episode_id))

    @router.post(
        "/sessions/{session_id}/roster",
        response_model=RosterResult,
        responses=_WRITE,
        openapi_extra=_IDEMPOTENT,
        summary="A whole session's attendance, all or nothing; the same line again changes nothing",
    )
    async def record_roster(
        request: Request, session_id: Id, roster: Roster, principal: Recorder
    ) -> JSONResponse:
        if roster.recorded_by != principal.actor and not principal.key.acts_for_others:
            raise ApiProblem(
                403,
                "actor-forbidden",
                f"this key acts as '{principal.actor}' and may not record for another actor",
            )
        session = await visible_session(principal, session_id)

        async def record() -> RosterResult:
            policy = await store.get_policy(pool, session.program_id)
            now = clock()
            async with pool.acquire() as conn, conn.transaction():
                result = await attendance_store.record_roster(
                    conn, session_id, roster, policy=policy, now=now
                )
                changed = [x.episode_id for x in result.lines if x.outcome is not UNCHANGED]
                row = await store.session_row(conn, session_id)
                assert row is not None
                await notices.derive_notices(
                    conn, row, changed, recorded_by=roster.recorded_by, policy=policy, now=now
                )
            return result

        async def work() -> tuple[int, BaseModel]:
            try:
                result = await records_call(record())
            except RosterRefused as error:
                raise _refused(error) from None
            sent, pending = await deliver([e.episode_id for e in roster.entries])
            return 200, result.model_copy(update={"notices_sent": sent, "notices_pending": pending})

        return await audited(request, principal, Action.RECORD_ATTENDANCE, work, subject=session_id)

    async def deliver(episode_ids: list[str]) -> tuple[int, int]:
        """Hand the pending notices to the episodes' engines (api/notice_delivery.py); an
        unreachable engine leaves a notice pending for the background retry."""
        done = await deliver_pending(services.episodes, pool, clock, episode_ids)
        return done.sent, done.pending

    @router.get(
        "/episodes/{episode_id}/week",
        response_model=weeks.WeekView,
        responses=_READ,
        summary="This week's sessions, hours against the minimum, units used / left and the "
        "projected exhaustion day (derived from the rosters)",
    )
    async def episode_week(
        episode_id: Id,
        principal: Reader,
        day: Annotated[date | None, Query(description="any day of the week; default today")] = None,
    ) -> weeks.WeekView:
        program = await services.programs.program_of(episode_id)
        principal.require_episode(episode_id, program)
        policy = await records_call(store.get_policy(pool, program))
        now = clock()
        if day is None:  # today in the zone of the episode's groups, not in UTC
            day = await records_call(weeks.local_today(pool, episode_id, now))
        return await records_call(weeks.week_view(pool, episode_id, day, policy, now))

    @router.get(
        "/episodes/{episode_id}/attendance",
        response_model=list[AttendanceRecord],
        responses=_READ,
        summary="The episode's attendance history (from the rosters)",
    )
    async def episode_attendance(episode_id: Id, principal: Reader) -> list[AttendanceRecord]:
        principal.require_episode(episode_id, await services.programs.program_of(episode_id))
        return await records_call(attendance_store.episode_attendance(pool, episode_id))

    @router.get(
        "/sessions/{session_id}/attendance/{episode_id}/audit",
        response_model=list[attendance_store.AuditEntry],
        responses=_READ,
        summary="Every value recorded for one participant of one session, with who and why",
    )
    async def attendance_audit(
        session_id: Id, episode_id: Id, principal: Reader
    ) -> list[attendance_store.AuditEntry]:
        # Both IDs must name something the key sees: an unknown episode is a 404, not an
        # empty trail (which says "known, nothing recorded").
        await visible_session(principal, session_id)
        principal.require_episode(episode_id, await services.programs.program_of(episode_id))
        return await records_call(attendance_store.attendance_audit(pool, session_id, episode_id))

    @router.get(
        "/programs/{program_id}/billable-days",
        response_model=list[billing.BillableDay],
        responses={
            200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"},
            **_READ,
        },
        summary="Billable-day lines from attendance (and the days that do not qualify, why)",
    )
    async def billable_days(
        program_id: Id,
        principal: Biller,
        first: Annotated[date, Query(alias="from")],
        last: Annotated[date, Query(alias="to")],
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    ) -> Response:
        principal.require_program(program_id)
        if last < first or (last - first).days > 366:
            raise ApiProblem(
                422,
                "invalid-request",
                "the range runs from `from` to `to`, at most 366 days",
                errors=[FieldError(field="query.to", message="before from, or too far")],
            )
        policy = await records_call(store.get_policy(pool, program_id))
        lines = await records_call(billing.billable_days(pool, program_id, first, last, policy))
        if format == "csv":
            return Response(billing.to_csv(lines), media_type="text/csv; charset=utf-8")
        return _json(200, list(lines))

    return router
