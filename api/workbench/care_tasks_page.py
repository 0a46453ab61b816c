"""The episode page's care-team tasks, done from the page: a call-back's outcome or an
urgent message's acknowledgement, recorded as the signed-in person (never a typed name),
then back to the episode. Done already is a 409 page naming who and when; a missing or
unknown answer is a 422 page and nothing is recorded."""

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
from store.channels.care_tasks import TaskDone

Doer = Annotated[Session, Depends(signed_in_as({PersonRole.CARE_TEAM}))]
TaskId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]
# What the form's one answer is, per kind of task.
ANSWERS: dict[TaskKind, tuple[str, type[CallbackOutcome] | type[AlertResponse]]] = {
    TaskKind.CALLBACK: ("callback_outcome", CallbackOutcome),
    TaskKind.ACKNOWLEDGEMENT: ("ack_response", AlertResponse),
}


def task_answers(role: PersonRole) -> dict[str, list[str]]:
    """The answers the episode page offers per kind of task; none for a role that may not
    do them."""
    if role is not PersonRole.CARE_TEAM:
        return {}
    return {kind.value: [a.value for a in answers] for kind, (_, answers) in ANSWERS.items()}


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
        field, answers = ANSWERS[task.kind]
        raw = (await request.form()).get("answer")
        valid = {a.value for a in answers}
        if not isinstance(raw, str) or raw not in valid:
            problem = ApiProblem(
                422, "invalid-answer", f"choose one of: {', '.join(sorted(valid))}"
            )
            return problem_page(request, session, problem)
        try:
            await records_call(
                care_tasks.complete(
                    pool,
                    task_id,
                    by=session.account.actor,
                    at=workbench.clock(),
                    **{field: answers(raw)},  # type: ignore[arg-type]
                )
            )
        except TaskDone as done:
            row = done.task
            stamp = row.done_at.isoformat() if row.done_at else "?"
            problem = ApiProblem(409, "task-done", f"done by '{row.done_by}' at {stamp}")
            return problem_page(request, session, problem)
        return RedirectResponse(f"{PREFIX}/episodes/{episode_id}", status_code=303)

    return router
