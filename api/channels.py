"""Routes for what comes back from the channels, and operators' outbox repairs.

- `POST /v1/channels/sms/status` and `/v1/channels/sms/inbound`: the SMS gateway's
  delivery-status callbacks and patients' replies, each verified with the gateway's
  `X-Twilio-Signature` over our public URL (403 and nothing changed when it does not match).
- `GET /v1/outbox/messages` and `POST /v1/outbox/messages/{message_id}/resend`: the failed
  and undeliverable messages an operator sees, and a resend that keeps the message ID.
- `GET /v1/episodes/{id}/care-team-tasks`, `POST .../callback-tasks/{task_id}/completion` and
  `POST .../urgent-messages/{message_id}/acknowledgement`: what the care team owes after an
  urgent message (store/channels/care_tasks.py), and doing it (who, when, what).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from api.auth import Operation, Principal, require
from api.deps import Services
from api.mutations import records_call
from api.problems import ApiProblem
from api.routes import problems
from api.settings import ALL_PROGRAMS, ApiKey
from rules.messaging import CallbackOutcome, TaskKind
from schemas.episode import OpaqueId
from schemas.submissions import AlertResponse
from store.channels import care_tasks
from store.channels.care_tasks import CareTeamTask, TaskDone
from store.channels.sms import INBOUND_PATH, STATUS_CALLBACK_PATH
from store.channels.sms_events import record_delivery_status, record_reply
from store.channels.twilio_signature import SIGNATURE_HEADER, valid_signature
from store.outbox_admin import (
    RESENDABLE,
    AttentionStatus,
    OutboxRow,
    get_message,
    needing_attention,
    resend,
)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MessageId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]
EpisodeId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
TaskId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _keys(request: Request) -> dict[str, ApiKey]:
    services: Services = request.app.state.services
    return services.deps.settings.api_keys


OutboxReader = Annotated[Principal, Depends(require(Operation.LIST_OUTBOX, _keys))]
Resender = Annotated[Principal, Depends(require(Operation.RESEND_MESSAGE, _keys))]
TaskReader = Annotated[Principal, Depends(require(Operation.LIST_CARE_TEAM_TASKS, _keys))]
CallbackCompleter = Annotated[Principal, Depends(require(Operation.COMPLETE_CALLBACK, _keys))]
MessageAcknowledger = Annotated[Principal, Depends(require(Operation.ACKNOWLEDGE_MESSAGE, _keys))]


class CareTeamTaskList(BaseModel):
    items: list[CareTeamTask]


class CallbackCompletion(BaseModel):
    """Who called the patient back, and how it went (when: as the API records it)."""

    model_config = ConfigDict(extra="forbid")
    completed_by: OpaqueId
    outcome: CallbackOutcome


class MessageAcknowledgement(BaseModel):
    """A care-team member saw the urgent message, and says what was done."""

    model_config = ConfigDict(extra="forbid")
    acknowledged_by: OpaqueId
    response: AlertResponse


class OutboxList(BaseModel):
    items: list[OutboxRow]


def _signed_url(services: Services, request: Request) -> str:
    """The URL the gateway signed: ours as the public sees it, not as the proxy passed it."""
    public = services.deps.settings.public_url
    if not public:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public.rstrip('/')}{request.url.path}{query}"


async def _verified_form(services: Services, request: Request) -> dict[str, str]:
    form = await request.form()
    params = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    token = services.deps.settings.sms_token
    if not valid_signature(
        token.get_secret_value() if token else "",
        _signed_url(services, request),
        params,
        request.headers.get(SIGNATURE_HEADER),
    ):
        raise ApiProblem(403, "bad-signature", "the request signature does not match")
    return dict(params)


async def _episode_seen(services: Services, principal: Principal, episode_id: str) -> None:
    """404 for an unknown episode or one of a program the key may not see."""
    program = await services.programs.program_of(episode_id)
    principal.require_episode(episode_id, program)


def _acting_as(principal: Principal, actor: str) -> None:
    if actor != principal.actor and not principal.key.acts_for_others:
        raise ApiProblem(
            403,
            "actor-forbidden",
            f"this key acts as '{principal.actor}' and may not act for another actor",
        )


async def _complete(
    services: Services,
    principal: Principal,
    episode_id: str,
    task_id: str,
    kind: TaskKind,
    by: str,
    *,
    callback_outcome: CallbackOutcome | None = None,
    ack_response: AlertResponse | None = None,
) -> CareTeamTask:
    await _episode_seen(services, principal, episode_id)
    _acting_as(principal, by)
    pool = services.deps.pool
    current = await records_call(care_tasks.get(pool, task_id))
    what = "call-back task" if kind is TaskKind.CALLBACK else "urgent message to acknowledge"
    if current is None or current.episode_id != episode_id or current.kind is not kind:
        raise ApiProblem(404, "task-not-found", f"no open or done {what} '{task_id}'")
    try:
        done = await records_call(
            care_tasks.complete(
                pool,
                task_id,
                by=by,
                at=services.deps.clock(),
                callback_outcome=callback_outcome,
                ack_response=ack_response,
            )
        )
    except TaskDone as already:
        row = already.task
        if row.done_so(by, callback_outcome, ack_response):
            return row  # the same answer again: a retry, answered as the first time
        raise ApiProblem(
            409,
            "task-done",
            f"the {what} was done by '{row.done_by}' at "
            f"{row.done_at.isoformat() if row.done_at else '?'}",
            allowed_actions=[],
        ) from None
    assert done is not None
    return done


def build_channels_router(services: Services) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/v1/episodes/{episode_id}/care-team-tasks",
        response_model=CareTeamTaskList,
        responses=problems(401, 403, 404, 422, 503),
        tags=["episodes"],
        summary="What the care team owes after urgent messages: acknowledgements and call-backs",
    )
    async def list_care_team_tasks(
        principal: TaskReader,
        episode_id: EpisodeId,
        kind: Annotated[TaskKind | None, Query()] = None,
    ) -> CareTeamTaskList:
        await _episode_seen(services, principal, episode_id)
        rows = await records_call(care_tasks.for_episode(services.deps.pool, episode_id, kind))
        return CareTeamTaskList(items=rows)

    @router.post(
        "/v1/episodes/{episode_id}/callback-tasks/{task_id}/completion",
        response_model=CareTeamTask,
        responses=problems(400, 401, 403, 404, 409, 422, 503),
        tags=["episodes"],
        summary="The patient was called back: who, and reached / not reached / left message",
    )
    async def complete_callback(
        principal: CallbackCompleter,
        episode_id: EpisodeId,
        task_id: TaskId,
        body: Annotated[CallbackCompletion, Body()],
    ) -> CareTeamTask:
        return await _complete(
            services,
            principal,
            episode_id,
            task_id,
            TaskKind.CALLBACK,
            body.completed_by,
            callback_outcome=body.outcome,
        )

    @router.post(
        "/v1/episodes/{episode_id}/urgent-messages/{message_id}/acknowledgement",
        response_model=CareTeamTask,
        responses=problems(400, 401, 403, 404, 409, 422, 503),
        tags=["episodes"],
        summary="A care-team member saw the urgent message, and says what was done",
    )
    async def acknowledge_message(
        principal: MessageAcknowledger,
        episode_id: EpisodeId,
        message_id: MessageId,
        body: Annotated[MessageAcknowledgement, Body()],
    ) -> CareTeamTask:
        return await _complete(
            services,
            principal,
            episode_id,
            f"ack:{message_id}",
            TaskKind.ACKNOWLEDGEMENT,
            body.acknowledged_by,
            ack_response=body.response,
        )

    @router.post(STATUS_CALLBACK_PATH, include_in_schema=False)
    async def sms_status(request: Request) -> Response:
        form = await _verified_form(services, request)
        sid = form.get("MessageSid") or form.get("SmsSid")
        status = form.get("MessageStatus") or form.get("SmsStatus")
        if not sid or not status:
            raise ApiProblem(422, "invalid-callback", "MessageSid and MessageStatus are required")
        await record_delivery_status(
            services.deps.pool,
            provider_id=sid,
            gateway_status=status,
            error_code=form.get("ErrorCode"),
        )
        return Response(status_code=204)

    @router.post(INBOUND_PATH, include_in_schema=False)
    async def sms_inbound(request: Request) -> Response:
        form = await _verified_form(services, request)
        sender = form.get("From")
        if not sender:
            raise ApiProblem(422, "invalid-callback", "From is required")
        await record_reply(services.deps.pool, from_number=sender, body=form.get("Body", ""))
        return Response(EMPTY_TWIML, media_type="text/xml")

    @router.get(
        "/v1/outbox/messages",
        response_model=OutboxList,
        responses=problems(401, 403, 422, 503),
        tags=["operators"],
        summary="Failed (dead-lettered) and undeliverable messages, newest first",
    )
    async def list_outbox(
        principal: OutboxReader,
        status: Annotated[list[AttentionStatus] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> OutboxList:
        seen = principal.key.programs
        programs = None if ALL_PROGRAMS in seen else sorted(seen)
        rows = await records_call(
            needing_attention(
                services.deps.pool,
                statuses=status or list(AttentionStatus),
                programs=programs,
                limit=limit,
            )
        )
        return OutboxList(items=rows)

    @router.post(
        "/v1/outbox/messages/{message_id}/resend",
        response_model=OutboxRow,
        responses=problems(401, 403, 404, 409, 422, 503),
        tags=["operators"],
        summary="Queue a failed or undeliverable message again (same message ID)",
    )
    async def resend_message(principal: Resender, message_id: MessageId) -> OutboxRow:
        current = await records_call(get_message(services.deps.pool, message_id))
        if current is None or not principal.key.sees(current.program_id):
            raise ApiProblem(404, "message-not-found", f"no message '{message_id}'")
        queued = await records_call(
            resend(services.deps.pool, message_id, due=services.deps.clock())
        )
        if queued is None:
            raise ApiProblem(
                409,
                "message-not-resendable",
                f"message is {current.status}; resend is allowed when it is "
                + " or ".join(s.value for s in RESENDABLE),
                allowed_actions=[],
            )
        return queued

    return router
