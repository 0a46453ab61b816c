"""The API's client of the episode workflows, its one door into Temporal: start an
episode, read its state (`CareEpisode.state`), submit an update (`UPDATES[action]`).

Temporal's errors are translated here, once, into problem answers: unknown workflow →
404, a validator's TransitionNotAllowed → 409 (naming the allowed actions),
SubmissionConflict (a used submission ID with other content) → 409 submission-conflict,
InvalidSubmission → 422, Temporal unreachable or too slow → 503.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import NoReturn

from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.outages import is_temporal_outage, temporal_unavailable
from api.problems import ApiProblem, FieldError, episode_id_conflict, episode_not_found
from config.tuning import HISTORY_EVENT_LIMIT, REST_AFTER_EVENTS, REST_SETTLE_SECONDS
from rules.transitions import Action, TransitionNotAllowed
from schemas.episode import EpisodeStart, workflow_id_for
from schemas.submissions import Submission
from schemas.view import EngineDecision, EpisodeView
from temporal_client import WORKFLOW_TASK_TIMEOUT, start_episode
from workflows.care_episode import UPDATES, CareEpisode
from workflows.engine_core import InvalidSubmission, SubmissionConflict
from workflows.state import EpisodeInput, EpisodeResult


def _unavailable(detail: str) -> ApiProblem:
    return temporal_unavailable(detail)


def _unreachable(error: RuntimeError) -> ApiProblem:
    """The SDK raises RuntimeError('Failed client connect ...') when it cannot connect."""
    if is_temporal_outage(error):
        return _unavailable("Temporal is unreachable")
    raise error


# A phase refusal decided on a phase the episode has already left is asked again (see
# `EpisodeClient._refused_on_stale_phase`); this bounds how often.
STALE_REFUSAL_ATTEMPTS = 3


class EpisodeClient:
    """Episodes as the API sees them: CareEpisode workflows reached through one client."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        timeout: timedelta,
        search_attributes: bool = True,
        history_event_limit: int = HISTORY_EVENT_LIMIT,
        workflow_task_timeout: timedelta = WORKFLOW_TASK_TIMEOUT,
        rest_settle_seconds: float = REST_SETTLE_SECONDS,
        rest_after_events: int = REST_AFTER_EVENTS,
    ) -> None:
        self._rest_settle_seconds = rest_settle_seconds
        self._rest_after_events = rest_after_events
        self._client = client
        self._workflow_task_timeout = workflow_task_timeout
        self._task_queue = task_queue
        self._timeout = timeout
        self._search_attributes = search_attributes
        self._history_event_limit = history_event_limit

    def _handle(self, episode_id: str) -> WorkflowHandle[CareEpisode, EpisodeResult]:
        return self._client.get_workflow_handle_for(CareEpisode.run, workflow_id_for(episode_id))

    async def ping(self) -> bool:
        try:
            return await self._client.service_client.check_health(timeout=self._timeout)
        except (RPCError, RuntimeError):
            return False

    async def start(self, start: EpisodeStart, *, known: bool, received: EpisodeStart) -> bool:
        """Start the episode from `start` (the body as the workflow gets it: no patient data);
        False when it already runs. `known`: the patient store already held this same body
        (its fingerprint), so an episode already running is this start's retry. Otherwise an
        episode already running predates the patient store, and its first history event is
        compared with `received` instead (409 if it differs)."""
        try:
            await start_episode(
                self._client,
                start,
                task_queue=self._task_queue,
                search_attributes=self._search_attributes,
                history_event_limit=self._history_event_limit,
                task_timeout=self._workflow_task_timeout,
                rest_settle_seconds=self._rest_settle_seconds,
                rest_after_events=self._rest_after_events,
            )
            return True
        except WorkflowAlreadyStartedError:
            pass
        except RPCError as error:
            self._raise_rpc(error, start.episode_id)
        except RuntimeError as error:
            raise _unreachable(error) from error
        if known:
            return False
        original = await self.original_start(start.episode_id)
        # Starts recorded before contact details moved to PostgreSQL still hold them.
        if original is None or (
            original.without_contact_details() != received.without_contact_details()
        ):
            raise episode_id_conflict(start.episode_id)
        return False

    async def original_start(self, episode_id: str) -> EpisodeStart | None:
        """The body an episode started before the patient store was first started with (its
        first run's first history event). Only for those episodes: every later start is
        compared by its fingerprint in PostgreSQL (store/patients.py)."""
        try:
            description = await self._handle(episode_id).describe(rpc_timeout=self._timeout)
            first_run = description.raw_description.workflow_execution_info.first_run_id
            first = self._client.get_workflow_handle(
                workflow_id_for(episode_id), run_id=first_run or description.run_id
            )
            async for event in first.fetch_history_events(page_size=1, rpc_timeout=self._timeout):
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                decoded = await self._client.data_converter.decode(payloads, [EpisodeInput])
                found = decoded[0] if decoded else None
                return found.start if isinstance(found, EpisodeInput) else None
        except RPCError as error:
            self._raise_rpc(error, episode_id)
        except RuntimeError as error:
            raise _unreachable(error) from error
        return None

    async def state(self, episode_id: str) -> EpisodeView:
        try:
            return await self._handle(episode_id).query(
                CareEpisode.state, rpc_timeout=self._timeout
            )
        except RPCError as error:
            self._raise_rpc(error, episode_id)
        except RuntimeError as error:
            raise _unreachable(error) from error
        except WorkflowQueryRejectedError as error:
            raise ApiProblem(409, "episode-not-queryable", str(error)) from error
        except WorkflowQueryFailedError as error:
            raise _unavailable(f"the engine could not answer: {error.message}") from error

    async def submit(self, episode_id: str, action: Action, body: Submission) -> EngineDecision:
        """Run the Workflow Update that carries `action` (`UPDATES`).

        Its update ID is fresh per call (kind and submission id, for operators, plus a
        random part): Temporal would answer a reused update ID with the first outcome
        whatever the content, so the workflow itself tells a retry (same content, the
        same answer marked duplicate) from a correction (409 submission-conflict).
        """
        for attempt in range(1, STALE_REFUSAL_ATTEMPTS + 1):
            try:
                return await self._handle(episode_id).execute_update(
                    UPDATES[action],
                    body,
                    id=f"{action.value}:{body.identifier()}:{uuid.uuid4().hex[:12]}",
                    rpc_timeout=self._timeout,
                )
            except WorkflowUpdateFailedError as error:
                if attempt < STALE_REFUSAL_ATTEMPTS and await self._refused_on_stale_phase(
                    episode_id, error
                ):
                    continue
                self._raise_update_failure(error)
            except RPCTimeoutOrCancelledError as error:
                raise _unavailable(
                    "Temporal did not answer in time; retrying with the same submission id is safe"
                ) from error
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND and await self._exists(episode_id):
                    raise ApiProblem(
                        409, "episode-closed", "the episode is closed", allowed_actions=[]
                    ) from error
                self._raise_rpc(error, episode_id)
            except RuntimeError as error:
                raise _unreachable(error) from error
        raise AssertionError("unreachable: the last attempt raises or returns")

    async def _refused_on_stale_phase(
        self, episode_id: str, error: WorkflowUpdateFailedError
    ) -> bool:
        """Whether a phase refusal was decided on a phase the episode has already left.

        An update that reaches an episode the worker no longer caches is validated while the
        worker replays the history: the SDK applies the new update in the same activation as
        the last replayed payer result, before the workflow has applied that result, so the
        validator can see the phase of one step earlier (reproduced with a small cache in
        tests/api/test_api_stale_refusal.py). A refused update leaves nothing in history,
        so asking again — now that the episode is replayed and settled — is safe; a refusal
        whose phase is the episode's phase stands."""
        cause = error.cause
        if not isinstance(cause, ApplicationError) or cause.type != TransitionNotAllowed.__name__:
            return False
        details = cause.details[0] if cause.details else {}
        refused_in = details.get("phase") if isinstance(details, dict) else None
        if refused_in is None:
            return False
        try:
            view = await self.state(episode_id)
        except ApiProblem:
            return False
        return bool(view.phase.value != refused_in)

    async def _exists(self, episode_id: str) -> bool:
        try:
            await self._handle(episode_id).describe(rpc_timeout=self._timeout)
            return True
        except RPCError as error:
            if is_temporal_outage(error):  # not "unknown": we could not ask
                raise _unavailable("Temporal is unreachable") from error
            return False
        except RuntimeError as error:
            raise _unreachable(error) from error

    @staticmethod
    def _raise_update_failure(error: WorkflowUpdateFailedError) -> NoReturn:
        cause = error.cause
        failed = ApiProblem(500, "update-failed", "the engine failed this submission")
        if not isinstance(cause, ApplicationError):
            raise failed from error
        # The workflow names each refusal after the engine's exception class.
        if cause.type == TransitionNotAllowed.__name__:
            details = cause.details[0] if cause.details else {}
            allowed = details.get("allowed_actions", []) if isinstance(details, dict) else []
            raise ApiProblem(
                409, "transition-not-allowed", cause.message, allowed_actions=list(allowed)
            ) from error
        if cause.type == SubmissionConflict.__name__:
            raise ApiProblem(409, "submission-conflict", cause.message) from error
        if cause.type == InvalidSubmission.__name__:
            raise ApiProblem(
                422,
                "invalid-submission",
                cause.message,
                errors=[FieldError(field="body", message=cause.message)],
            ) from error
        raise failed from error

    @staticmethod
    def _raise_rpc(error: RPCError, episode_id: str) -> NoReturn:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise episode_not_found(episode_id) from error
        if is_temporal_outage(error):
            raise _unavailable("Temporal is unreachable") from error
        raise ApiProblem(502, "workflows-error", "Temporal refused the call") from error
