"""The episode page's care-team tasks, done from the page: a call-back's outcome or an
urgent message's acknowledgement, recorded as the signed-in person (never a typed name),
then back to the episode. The same form again from the person who did it, with the same
answer (a double click, a reload), lands on the episode as the first did (issue 11: never
a second submission, never an error for it); done already by someone else or with another
answer is a 409 page naming who, when and what, and that nothing more is allowed on the
task. A missing or unknown answer is a 422 page and nothing is recorded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from api.mutations import records_call
from api.problems import ApiProblem
from api.workbench.accounts import PersonRole
from api.workbench.guard import PREFIX, signed_in_as, workbench_of
from api.workbench.sessions import Session
from api.workbench.web import problem_page
from rules.messaging import CallbackOutcome, TaskKind
from schemas.submissions import AlertResponse
from store.channels import care_tasks
from store.channels.care_tasks import CareTeamTask, TaskDone

Doer = Annotated[Session, Depends(signed_in_as({PersonRole.CARE_TEAM}))]
TaskId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]
# What the form's one answer is, per kind of task.
ANSWERS: dict[TaskKind, type[CallbackOutcome] | type[AlertResponse]] = {
    TaskKind.CALLBACK: CallbackOutcome,
    TaskKind.ACKNOWLEDGEMENT: AlertResponse,
}


def task_answers(role: PersonRole) -> dict[str, list[str]]:
    """The answers the episode page offers per kind of task; none for a role that may not
    do them."""
    if role is not PersonRole.CARE_TEAM:
        return {}
    return {kind.value: [a.value for a in answers] for kind, answers in ANSWERS.items()}


def _conflict(row: CareTeamTask) -> ApiProblem:
    """Done already, by someone else or with another answer: who, when, what, and that the
    task takes nothing more (the episode page shows it done)."""
    stamp = row.done_at.isoformat() if row.done_at else "?"
    answer = row.callback_outcome or row.ack_response
    what = f" ({answer.value.replace('_', ' ')})" if answer else ""
    return ApiProblem(
        409,
        "task-done",
        f"done by '{row.done_by}' at {stamp}{what}: nothing more can be recorded on this task",
    )


def build_care_tasks_page_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)

    @router.post("/episodes/{episode_id}/care-team-tasks/{task_id}")
    async def do_task(
        request: Request, episode_id: str, task_id: TaskId, session: Doer
    ) -> Response:
        workbench = workbench_of(request)
        pool = workbench.services.deps.pool
        task = await records_call(care_tasks.get(pool, task_id))
        if (
            task is None
            or task.episode_id != episode_id
            or not session.account.sees(task.program_id)
        ):
            return problem_page(
                request, session, ApiProblem(404, "task-not-found", f"no task '{task_id}'")
            )
        answers = ANSWERS[task.kind]
        raw = (await request.form()).get("answer")
        valid = {a.value for a in answers}
        if not isinstance(raw, str) or raw not in valid:
            problem = ApiProblem(
                422, "invalid-answer", f"choose one of: {', '.join(sorted(valid))}"
            )
            return problem_page(request, session, problem)
        chosen = answers(raw)
        outcome = chosen if isinstance(chosen, CallbackOutcome) else None
        response = chosen if isinstance(chosen, AlertResponse) else None
        by = session.account.actor
        try:
            await records_call(
                care_tasks.complete(
                    pool,
                    task_id,
                    by=by,
                    at=workbench.clock(),
                    callback_outcome=outcome,
                    ack_response=response,
                )
            )
        except TaskDone as done:
            if not done.task.done_so(by, outcome, response):
                return problem_page(request, session, _conflict(done.task))
        return RedirectResponse(f"{PREFIX}/episodes/{episode_id}", status_code=303)

    return router
