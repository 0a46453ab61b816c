"""Bearer API keys: who is calling, and whether their role may use an endpoint.

`PERMISSIONS` is the role-by-endpoint matrix in one literal, keyed by the episode's
`Action` for the submissions and by `Operation` for everything else; routes name theirs
and the dependency from `require` checks it before any work is done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Final, TypeAlias

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import ApiProblem, episode_not_found
from api.settings import ApiKey, Role, key_fingerprint
from rules.transitions import Action


class Operation(StrEnum):
    """What a key may do besides an episode's own actions (those are `Action`)."""

    START_EPISODE = "start_episode"
    READ_EPISODE = "read_episode"
    LIST_EPISODES = "list_episodes"
    READ_TIMELINE = "read_timeline"
    # The IOP week (api/groups.py); recording attendance itself is Action.RECORD_ATTENDANCE.
    MANAGE_GROUPS = "manage_groups"
    READ_GROUPS = "read_groups"
    ASSIGN_GROUPS = "assign_groups"
    READ_BILLABLE_DAYS = "read_billable_days"
    LIST_OUTBOX = "list_outbox"
    RESEND_MESSAGE = "resend_message"
    # The care team's follow-through after urgent messages (api/channels.py).
    LIST_CARE_TEAM_TASKS = "list_care_team_tasks"
    COMPLETE_CALLBACK = "complete_callback"
    ACKNOWLEDGE_MESSAGE = "acknowledge_message"


# What a route is guarded by, and what the audit row records (its value).
Guarded: TypeAlias = Action | Operation

R = Role
PERMISSIONS: Final[Mapping[Guarded, frozenset[Role]]] = {
    Operation.START_EPISODE: frozenset({R.CLINIC_SYSTEM}),
    Operation.READ_EPISODE: frozenset(Role),
    Operation.LIST_EPISODES: frozenset({R.CARE_TEAM, R.OPERATOR}),
    Action.SUBMIT_ASSESSMENT: frozenset({R.CARE_TEAM}),
    Action.SUBMIT_COVERAGE: frozenset({R.UTILIZATION_REVIEW}),
    Action.RECORD_AUTHORIZATION: frozenset({R.UTILIZATION_REVIEW}),
    Action.SUBMIT_REVIEW: frozenset({R.CARE_TEAM}),
    Action.DECIDE: frozenset({R.CARE_TEAM}),
    Action.REPORT_EVENT: frozenset({R.CLINIC_SYSTEM}),
    # The roster's attendance (api/groups.py); its exceptions reach the episode as this
    # action's update.
    Action.RECORD_ATTENDANCE: frozenset({R.CLINIC_SYSTEM, R.CARE_TEAM}),
    # Only the patient, through their link (/p/{token}): no API key's role may.
    Action.SUBMIT_PATIENT_MEASURE: frozenset(),
    # The care team acknowledges its own urgent risk alert (who, when, what was done).
    Action.ACKNOWLEDGE_ALERT: frozenset({R.CARE_TEAM}),
    Operation.READ_TIMELINE: frozenset({R.CARE_TEAM, R.OPERATOR}),
    Operation.MANAGE_GROUPS: frozenset({R.PROGRAM_ADMIN, R.CLINIC_SYSTEM}),
    Operation.READ_GROUPS: frozenset({R.PROGRAM_ADMIN, R.CLINIC_SYSTEM, R.CARE_TEAM, R.OPERATOR}),
    Operation.ASSIGN_GROUPS: frozenset({R.PROGRAM_ADMIN, R.CLINIC_SYSTEM, R.CARE_TEAM}),
    Operation.READ_BILLABLE_DAYS: frozenset(
        {R.PROGRAM_ADMIN, R.CLINIC_SYSTEM, R.UTILIZATION_REVIEW}
    ),
    Operation.LIST_OUTBOX: frozenset({R.OPERATOR}),
    Operation.RESEND_MESSAGE: frozenset({R.OPERATOR}),
    # The care team does them; operators see them beside the timeline.
    Operation.LIST_CARE_TEAM_TASKS: frozenset({R.CARE_TEAM, R.OPERATOR}),
    Operation.COMPLETE_CALLBACK: frozenset({R.CARE_TEAM}),
    Operation.ACKNOWLEDGE_MESSAGE: frozenset({R.CARE_TEAM}),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. `owner` identifies the key without holding the token."""

    key: ApiKey
    owner: str

    @property
    def actor(self) -> str:
        return self.key.actor

    @property
    def role(self) -> Role:
        return self.key.role

    def require_program(self, program_id: str) -> None:
        """For a program the caller names itself (a filter, a new episode): 403."""
        if not self.key.sees(program_id):
            raise ApiProblem(403, "program-forbidden", "this key may not see that program")

    def require_episode(self, episode_id: str, program_id: str) -> None:
        """For an existing episode: 404, the same answer as for an unknown one, so a key
        cannot learn which episode IDs exist in programs it may not see."""
        if not self.key.sees(program_id):
            raise episode_not_found(episode_id)


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="carepath"'}


def authenticate(authorization: str | None, keys: Mapping[str, ApiKey]) -> Principal:
    """The principal for an `Authorization: Bearer <token>` header, or a 401 problem."""
    if not authorization:
        raise ApiProblem(
            401, "unauthenticated", "send Authorization: Bearer <key>", headers=_CHALLENGE
        )
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    key = keys.get(token) if scheme.lower() == "bearer" and token else None
    if key is None:
        raise ApiProblem(401, "unauthenticated", "unknown or malformed API key", headers=_CHALLENGE)
    return Principal(key=key, owner=key_fingerprint(token))


# Declares the scheme in the OpenAPI document; the header itself is read by `authenticate`.
BEARER = HTTPBearer(auto_error=False, description="an API key bound to a role and programs")


def require(
    operation: Guarded, keys: Callable[[Request], Mapping[str, ApiKey]]
) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: authenticate, then check the role against `PERMISSIONS`."""

    async def dependency(
        request: Request,
        _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> Principal:
        principal = authenticate(request.headers.get("authorization"), keys(request))
        if principal.role not in PERMISSIONS[operation]:
            raise ApiProblem(
                403, "role-forbidden", f"role '{principal.role}' may not {operation.value}"
            )
        return principal

    return dependency
