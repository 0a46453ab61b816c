"""The pages people read: Today's worklists, the census, an episode, and the
utilization-review queue. Data comes from the API's own records adapter, the store's
queries and the engine facade; nothing here re-implements a rule."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from api.episode_records import TimelineEntry
from api.episode_week import with_week
from api.mutations import records_call
from api.problems import ApiProblem
from api.workbench import quality_list
from api.workbench.accounts import Account
from api.workbench.care_tasks_page import task_answers
from api.workbench.charts import ScorePoint, scores_svg
from api.workbench.forms import FORMS
from api.workbench.guard import PREFIX, live_session, signed_in_as, workbench_of
from api.workbench.roles import PAGE_ROLES, Page
from api.workbench.sessions import Session
from api.workbench.today_rows import episode_rows
from api.workbench.web import Workbench, page, problem_page, visible_episode
from rules.authorization import appeal_deadline, payer_decision_deadline
from rules.burn_rate import projected_exhaustion
from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy
from rules.transitions import Action, CarePhase
from schemas.view import EpisodeView
from store import groups as group_store
from store import worklists
from store.channels import care_tasks
from store.followups import followups_of
from store.models import EpisodeFilter, EpisodeRow
from store.patients import PatientRecord, PostgresPatients

# Policy numbers the cross-episode lists need (deadlines, thresholds). Each episode's own
# policy lives in its workflow; the lists use the program defaults and say so.
LIST_POLICY = ProgramPolicy()


def _start_of_day(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)


@dataclass(frozen=True)
class Worklist:
    key: str
    title: str
    rows: list[dict[str, Any]]
    total: int
    note: str | None = None


def _episode_row(e: EpisodeRow, **extra: Any) -> dict[str, Any]:
    return {
        "episode_id": e.episode_id,
        "program_id": e.program_id,
        "phase": e.phase.value,
        "level": e.delivered_level.value if e.delivered_level else None,
        "next_review_due": e.next_review_due,
        "risk_flag": e.risk_flag,
        "risk_unacknowledged": e.risk_unacknowledged,
        "latest_phq9": e.latest_phq9,
        **extra,
    }


def _alert_unacknowledged(view: EpisodeView) -> bool:
    """The acknowledgement form is offered only while an open risk alert waits for one."""
    return view.risk_alert is not None and view.risk_alert.acknowledged_at is None


def _programs(account: Account, program: str | None) -> list[str] | None:
    if program:
        return [program] if account.sees(program) else []
    return account.visible_programs()


@dataclass(frozen=True)
class TodayList:
    """A worklist as the Today template reads it: rows as attribute objects (Jinja finds an
    attribute at once, where a dict key costs it a failed attribute lookup first), each
    with its patient's display name; an episode list's rows come already written as
    `body` (api/workbench/today_rows.py), its `rows` the episodes themselves."""

    key: str
    title: str
    rows: Sequence[SimpleNamespace | EpisodeRow]
    total: int
    note: str | None
    body: Markup | None = None

    @classmethod
    def of(cls, worklist: Worklist, names: dict[str, str]) -> TodayList:
        rows = [
            SimpleNamespace(**row, patient=names.get(row["episode_id"])) for row in worklist.rows
        ]
        return cls(worklist.key, worklist.title, rows, worklist.total, worklist.note)

    @classmethod
    def of_episodes(
        cls,
        key: str,
        title: str,
        rows: list[EpisodeRow],
        total: int,
        names: dict[str, str],
        note: str | None = None,
    ) -> TodayList:
        return cls(key, title, rows, total, note, episode_rows(rows, names))


@dataclass(frozen=True)
class TodayView:
    lists: list[TodayList]
    # The programs to choose from, for a person who sees every program (else None).
    program_choices: list[str] | None


async def today_view(
    workbench: Workbench, account: Account, program: str | None, *, choices: bool = False
) -> TodayView:
    """Today's worklists, each row with its patient's display name, from one statement
    (store.worklists.today_page: every list, its count and the names of its rows, and,
    with `choices` and a person who sees every program, the programs to choose from)."""
    settings = workbench.settings
    now = workbench.clock()
    today = now.astimezone(UTC).date()
    programs = _programs(account, program)
    # Through the end of the horizon's last day (a weekly review due a week from now shows).
    week_end = _start_of_day(now) + timedelta(days=settings.review_horizon_days + 1)
    tomorrow = _start_of_day(now) + timedelta(days=1)
    # Every list is a bounded page plus its count, so a program of 10,000 episodes costs
    # about what a page of 25 costs.
    found = await records_call(
        worklists.today_page(
            workbench.services.deps.pool,
            now=now,
            tomorrow=tomorrow,
            horizon_end=week_end,
            today=today,
            authorization_days=settings.authorization_horizon_days,
            low_units=LIST_POLICY.low_units_threshold,
            programs=programs,
            limit=settings.page_size,
            program_choices=choices and account.visible_programs() is None,
        )
    )
    lists = found.lists
    names = found.names

    def episodes(key: str, title: str, note: str | None = None) -> TodayList:
        return TodayList.of_episodes(
            key, title, lists.rows[key], lists.counts[key], names, note=note
        )

    def other(worklist: Worklist) -> TodayList:
        return TodayList.of(worklist, names)

    built = [
        episodes("risk", "Open risk flags"),
        episodes("overdue", "Reviews overdue"),
        other(no_show_worklist(found.no_shows, found.no_shows_total)),
        other(care_tasks_worklist(found.care_tasks, found.care_tasks_total, now=now)),
        episodes("due-today", "Reviews due today"),
        episodes("due-week", f"Reviews due in the next {settings.review_horizon_days} days"),
        other(authorization_worklist(found.authorizations, today=today)),
        other(payer_worklist(found.payer_requests, now=now)),
        other(appeal_worklist(found.appeals, now=now)),
        other(
            Worklist(
                quality_list.QUALITY_CLOCKS_KEY,
                quality_list.QUALITY_CLOCKS_TITLE,
                quality_list.quality_clock_rows(found.quality_clocks, today=today),
                found.quality_clocks_total,
                note=quality_list.NOTE,
            )
        ),
        episodes(
            "aftercare",
            "In aftercare (check-ins and 7-/30-day follow-ups)",
            note="Each episode page shows its next check-in or follow-up date.",
        ),
    ]
    return TodayView(built, found.program_choices)


def authorization_worklist(lines: list[worklists.AuthorizationLine], *, today: date) -> Worklist:
    rows = [
        {
            "episode_id": a.episode_id,
            "program_id": a.program_id,
            "level": a.level.value,
            "authorization_number": a.authorization_number,
            "units_left": a.units_left,
            "units_approved": a.units_approved,
            "unit_type": a.unit_type,
            "end_date": a.end_date,
            "days_left": a.days_left,
            "projected_exhaustion": projected_exhaustion(
                units_used=a.units_used,
                units_left=a.units_left,
                start_date=a.start_date,
                today=today,
            ),
        }
        for a in lines
    ]
    return Worklist(
        "authorizations",
        "Authorizations ending soon or low on units",
        rows,
        len(rows),
        note=f"Low means {LIST_POLICY.low_units_threshold} units or fewer left (program default).",
    )


def care_tasks_worklist(
    tasks: list[care_tasks.CareTeamTask], total: int, *, now: datetime
) -> Worklist:
    rows = [{**t.model_dump(), "overdue": t.due_at <= now} for t in tasks]
    return Worklist(
        "care-tasks",
        "Care-team tasks (call-backs, urgent messages to acknowledge)",
        rows,
        total,
        note="Done on the episode's page; overdue ones have gone to the supervisor.",
    )


def no_show_worklist(lines: list[worklists.NoShowLine], total: int) -> Worklist:
    rows = [line.model_dump() for line in lines]
    return Worklist(
        "no-shows",
        "No-shows today",
        rows,
        total,
        note="Absent without notice at a group session held today (cancelled sessions excluded).",
    )


def payer_worklist(lines: list[worklists.PayerRequestLine], *, now: datetime) -> Worklist:
    rows = []
    for r in lines:
        deadline = payer_decision_deadline(r.requested_at, False, LIST_POLICY)
        rows.append(
            {
                "episode_id": r.episode_id,
                "program_id": r.program_id,
                "level": r.level.value,
                "status": r.status.value,
                "requested_at": r.requested_at,
                "deadline": deadline,
                "past_deadline": deadline < now,
            }
        )
    rows.sort(key=lambda row: row["deadline"])
    return Worklist(
        "payer",
        "Payer decisions pending",
        rows,
        len(rows),
        note=f"Deadline: {LIST_POLICY.payer_decision_days_standard:g} calendar days "
        "(standard; program default).",
    )


def appeal_worklist(lines: list[worklists.DenialLine], *, now: datetime) -> Worklist:
    rows = []
    for d in lines:
        closes = appeal_deadline(d.denied_at, LIST_POLICY)
        rows.append(
            {
                "episode_id": d.episode_id,
                "program_id": d.program_id,
                "level": d.level.value,
                "denied_at": d.denied_at,
                "window_closes": closes,
                "days_left": (closes - now).days,
            }
        )
    return Worklist("appeals", "Appeals and their windows", rows, len(rows))


def _scores(timeline: list[TimelineEntry]) -> list[ScorePoint]:
    return [
        ScorePoint(at=e.at, phq9=e.phq9_total, gad7=e.gad7_total)
        for e in timeline
        if e.kind == "review" and (e.phq9_total is not None or e.gad7_total is not None)
    ]


async def episode_and_timeline(
    workbench: Workbench, account: Account, episode_id: str
) -> tuple[EpisodeView, list[TimelineEntry]]:
    """The live view (Temporal) and the timeline (PostgreSQL), asked at once; the timeline
    is only returned once the view shows the person may see the episode."""
    view, timeline = await asyncio.gather(
        visible_episode(workbench, account, episode_id),
        records_call(workbench.services.records.timeline(episode_id)),
    )
    return view, timeline


async def episode_page_data(
    workbench: Workbench, account: Account, episode_id: str
) -> tuple[EpisodeView, list[TimelineEntry], PatientRecord | None]:
    """As `episode_and_timeline`, with who the patient is (PostgreSQL only, never Temporal),
    also returned only once the view shows the person may see the episode."""
    (view, timeline), patient = await asyncio.gather(
        episode_and_timeline(workbench, account, episode_id),
        records_call(PostgresPatients(workbench.services.deps.pool).get(episode_id)),
    )
    return view, timeline, patient


async def patient_names(
    workbench: Workbench, rows: list[EpisodeRow], programs: list[str] | None
) -> dict[str, str]:
    """Display names for a page of episodes, within the programs the person may see."""
    patients = PostgresPatients(workbench.services.deps.pool)
    return await records_call(patients.display_names([r.episode_id for r in rows], programs))


# Route dependencies (module level: annotations are resolved from the module's names).
Today = Annotated[Session, Depends(signed_in_as(PAGE_ROLES[Page.TODAY]))]
Census = Annotated[Session, Depends(signed_in_as(PAGE_ROLES[Page.CENSUS]))]
Episode = Annotated[Session, Depends(signed_in_as(PAGE_ROLES[Page.EPISODE]))]
UrQueue = Annotated[Session, Depends(signed_in_as(PAGE_ROLES[Page.UR_QUEUE]))]
ProgramQuery = Annotated[str | None, Query(max_length=64)]


def build_pages_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)

    async def program_choices(workbench: Workbench, account: Account) -> list[str]:
        visible = account.visible_programs()
        if visible is not None:
            return visible
        rows = await records_call(workbench.services.records.census(None))
        return sorted({row.program_id for row in rows})

    @router.get("/", response_class=HTMLResponse)
    async def today(request: Request, session: Today, program: ProgramQuery = None) -> HTMLResponse:
        workbench = workbench_of(request)
        view = await today_view(workbench, session.account, program or None, choices=True)
        return page(
            request,
            "today.html",
            {
                "session": session,
                "lists": view.lists,
                "program": program or "",
                "programs": (
                    view.program_choices
                    if view.program_choices is not None
                    else await program_choices(workbench, session.account)
                ),
                "as_of": workbench.clock(),
                "refresh_seconds": workbench.settings.refresh_seconds,
            },
        )

    @router.get("/today/lists", response_class=HTMLResponse)
    async def today_lists(
        request: Request, session: Today, program: ProgramQuery = None
    ) -> HTMLResponse:
        workbench = workbench_of(request)
        view = await today_view(workbench, session.account, program or None)
        return page(
            request,
            "_today_lists.html",
            {"session": session, "lists": view.lists, "as_of": workbench.clock()},
        )

    @router.get("/census", response_class=HTMLResponse)
    async def census(
        request: Request,
        session: Census,
        program: ProgramQuery = None,
        phase: CarePhase | None = None,
        level: LevelOfCare | None = None,
        risk: bool | None = None,
        overdue: bool | None = None,
        cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
    ) -> HTMLResponse:
        workbench = workbench_of(request)
        services = workbench.services
        programs = _programs(session.account, program or None)
        size = workbench.settings.page_size
        where = EpisodeFilter(
            programs=programs, phase=phase, level=level, risk_flag=risk, overdue=overdue
        )
        after = None if cursor is None else services.cursors.decode(where, cursor)
        counts, listing, groups = await records_call(
            asyncio.gather(
                services.records.census(programs),
                services.records.list_episodes(
                    where, now=workbench.clock(), limit=size, after=after
                ),
                # The groups' seats and waiting lists (issue 10's census), as GET /v1/groups.
                group_store.list_groups(services.deps.pool, programs),
            )
        )
        last = listing.last_key()
        names = await patient_names(workbench, listing.items, programs)
        levels: list[LevelOfCare | None] = [*LevelOfCare, None]
        phases = [p for p in CarePhase if p is not CarePhase.CLOSED]
        grid: dict[tuple[CarePhase, LevelOfCare | None], int] = {}
        for row in counts:
            grid[(row.phase, row.level)] = grid.get((row.phase, row.level), 0) + row.episodes
        filters = {
            "program": program or "",
            "phase": phase.value if phase else "",
            "level": level.value if level else "",
            "risk": "" if risk is None else str(risk).lower(),
            "overdue": "" if overdue is None else str(overdue).lower(),
        }
        return page(
            request,
            "census.html",
            {
                "session": session,
                "programs": await program_choices(workbench, session.account),
                "phases": phases,
                "levels": levels,
                "grid": grid,
                "total": sum(grid.values()),
                "groups": groups,
                "listing": listing,
                "rows": [_episode_row(e, patient=names.get(e.episode_id)) for e in listing.items],
                "paged": cursor is not None,
                # Only the filters that are set: an empty `risk=` is not a boolean (422).
                "base": "/app/census?" + urlencode({k: v for k, v in filters.items() if v}),
                "next_cursor": None if last is None else services.cursors.encode(where, last),
                "filters": filters,
                "now": workbench.clock(),
            },
        )

    @router.get("/episodes/{episode_id}", response_class=HTMLResponse)
    async def episode(request: Request, episode_id: str, session: Episode) -> HTMLResponse:
        workbench = workbench_of(request)
        try:
            view, timeline, patient = await episode_page_data(
                workbench, session.account, episode_id
            )
        except ApiProblem as problem:
            return problem_page(request, session, problem)
        view = await with_week(workbench.services.deps.pool, view, workbench.clock())
        tasks = await records_call(care_tasks.for_episode(workbench.services.deps.pool, episode_id))
        followups = await records_call(followups_of(workbench.services.deps.pool, episode_id))
        today = workbench.clock().astimezone(UTC).date()
        auth = view.authorization
        exhaustion = (
            projected_exhaustion(
                units_used=auth.units_used,
                units_left=auth.units_left,
                start_date=auth.start_date,
                today=today,
            )
            if auth
            else None
        )
        actions = [
            FORMS[action]
            for action in view.allowed_actions
            if action in FORMS
            and session.account.role in FORMS[action].roles
            and (action is not Action.ACKNOWLEDGE_ALERT or _alert_unacknowledged(view))
        ]
        return page(
            request,
            "episode.html",
            {
                "session": session,
                "view": view,
                "patient": patient,
                "timeline": timeline,
                "care_tasks": tasks,
                "followups": followups,
                "task_answers": task_answers(session.account.role),
                "scores": _scores(timeline),
                "exhaustion": exhaustion,
                "actions": actions,
                "now": workbench.clock(),
            },
        )

    @router.get("/episodes/{episode_id}/scores.svg")
    async def scores_chart(request: Request, episode_id: str, session: Episode) -> Response:
        workbench = workbench_of(request)
        try:
            view, timeline = await episode_and_timeline(workbench, session.account, episode_id)
        except ApiProblem as problem:
            return Response(status_code=problem.status)
        svg = scores_svg(
            _scores(timeline), baseline_phq9=view.scores.baseline_phq9, policy=LIST_POLICY
        )
        return Response(
            svg,
            media_type="image/svg+xml",
            # Its own document: pygal's inline style is allowed, its script is not.
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    @router.get("/utilization-review", response_class=HTMLResponse)
    async def ur_queue(
        request: Request, session: UrQueue, program: ProgramQuery = None
    ) -> HTMLResponse:
        workbench = workbench_of(request)
        pool = workbench.services.deps.pool
        now = workbench.clock()
        programs = _programs(session.account, program or None)
        limit = workbench.settings.page_size * 4
        auths, requests, appeals = await records_call(
            asyncio.gather(
                worklists.authorizations_ending_or_low(
                    pool,
                    today=now.astimezone(UTC).date(),
                    within_days=None,  # every active authorization, soonest end first
                    low_units=LIST_POLICY.low_units_threshold,
                    programs=programs,
                    limit=limit,
                ),
                worklists.pending_payer_requests(pool, programs=programs, limit=limit),
                worklists.open_appeals(pool, programs=programs, limit=limit),
            )
        )
        payer = payer_worklist(requests, now=now)
        concurrent = [r for r in payer.rows if r["status"] == "concurrent_review_requested"]
        return page(
            request,
            "ur_queue.html",
            {
                "session": session,
                "program": program or "",
                "programs": await program_choices(workbench, session.account),
                "authorizations": authorization_worklist(auths, today=now.astimezone(UTC).date()),
                "payer": payer,
                "concurrent": concurrent,
                "appeals": appeal_worklist(appeals, now=now),
                "now": now,
            },
        )

    @router.get("/idle")
    async def idle_check(
        request: Request, next_path: Annotated[str, Query(alias="next")] = ""
    ) -> Response:
        """Where the page's idle timer sends the browser: back to the page if the session
        is still live (activity in another tab), else to sign-in with the reason."""
        await live_session(request, active=False)
        target = next_path if next_path.startswith(f"{PREFIX}/") else f"{PREFIX}/"
        return RedirectResponse(target, status_code=303)

    return router
