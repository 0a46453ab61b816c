"""Who may do what: 401 without a key, the whole role-by-endpoint matrix, programs, actors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from api.auth import PERMISSIONS, Guarded, Operation
from api.settings import Role
from rules.transitions import Action
from tests.api import bodies
from tests.api.conftest import KEYS, TOKEN_FOR_ROLE, bearer

Body = Callable[[str], dict[str, Any]] | None
MATRIX_GROUP = "auth-matrix-group"
MATRIX_SESSION = "auth-matrix-session"

# operation → (method, path under /v1 with {id}, body built from the caller's actor)
ENDPOINTS: dict[Guarded, tuple[str, str, Body]] = {
    Operation.START_EPISODE: ("POST", "/episodes", lambda _actor: bodies.episode()),
    Operation.READ_EPISODE: ("GET", "/episodes/{id}", None),
    Operation.LIST_EPISODES: ("GET", "/episodes", None),
    Action.SUBMIT_ASSESSMENT: ("POST", "/episodes/{id}/assessment", bodies.assessment),
    Action.SUBMIT_COVERAGE: ("POST", "/episodes/{id}/coverage", bodies.coverage),
    Action.RECORD_AUTHORIZATION: ("POST", "/episodes/{id}/authorizations", bodies.authorization),
    Action.SUBMIT_REVIEW: ("POST", "/episodes/{id}/reviews", bodies.review),
    Action.DECIDE: ("POST", "/episodes/{id}/decisions", bodies.decision),
    Action.REPORT_EVENT: (
        "POST",
        "/episodes/{id}/events",
        lambda actor: bodies.event(actor, kind="admitted"),
    ),
    Action.ACKNOWLEDGE_ALERT: (
        "POST",
        "/episodes/{id}/alert-acknowledgements",
        lambda actor: {
            "acknowledgement_id": bodies.new_id("ack"),
            "acknowledged_by": actor,
            "response": "reached_patient",
        },
    ),
    Operation.READ_TIMELINE: ("GET", "/episodes/{id}/timeline", None),
    Operation.MANAGE_GROUPS: ("PUT", "/programs/iop-adult/attendance-policy", lambda _actor: {}),
    Operation.READ_GROUPS: ("GET", "/groups", None),
    Operation.ASSIGN_GROUPS: (
        "POST",
        f"/groups/{MATRIX_GROUP}/assignments",
        lambda _actor: {"episode_id": "{id}"},
    ),
    Action.RECORD_ATTENDANCE: (
        "POST",
        f"/sessions/{MATRIX_SESSION}/roster",
        lambda actor: {
            "recorded_by": actor,
            "entries": [{"episode_id": "x", "status": "attended"}],
        },
    ),
    Operation.READ_BILLABLE_DAYS: (
        "GET",
        "/programs/iop-adult/billable-days?from=2026-01-01&to=2026-01-31",
        None,
    ),
    Operation.LIST_OUTBOX: ("GET", "/outbox/messages", None),
    Operation.RESEND_MESSAGE: ("POST", "/outbox/messages/care-episode-{id}:m1/resend", None),
    Operation.LIST_CARE_TEAM_TASKS: ("GET", "/episodes/{id}/care-team-tasks", None),
    Operation.COMPLETE_CALLBACK: (
        "POST",
        "/episodes/{id}/callback-tasks/callback:link-1/completion",
        lambda actor: {"completed_by": actor, "outcome": "reached"},
    ),
    Operation.ACKNOWLEDGE_MESSAGE: (
        "POST",
        "/episodes/{id}/urgent-messages/care-episode-{id}:m1/acknowledgement",
        lambda actor: {"acknowledged_by": actor, "response": "reached_patient"},
    ),
}
# Allowed, and about a message or task the fresh episode does not have: 404.
ABOUT_A_MISSING_ROW = {
    Operation.RESEND_MESSAGE,
    Operation.COMPLETE_CALLBACK,
    Operation.ACKNOWLEDGE_MESSAGE,
}
# A refusal of the content, by the engine or by the roster's own checks.
CONTENT_REFUSALS = ("invalid-submission", "invalid-roster")


# Submitted only through the patient's link, never with an API key.
NO_ENDPOINT = {Action.SUBMIT_PATIENT_MEASURE}


def test_every_operation_has_an_endpoint_in_the_matrix() -> None:
    assert set(ENDPOINTS) | NO_ENDPOINT == set(Operation) | set(Action) == set(PERMISSIONS)
    assert all(not PERMISSIONS[action] for action in NO_ENDPOINT)


@pytest.fixture(scope="module")
async def episode_id(api: httpx.AsyncClient) -> str:
    body = bodies.episode()
    answer = await api.post("/v1/episodes", json=body, headers=bearer("tok-clinic"))
    assert answer.status_code == 201
    group = {
        "group_id": MATRIX_GROUP,
        "program_id": "iop-adult",
        "name": "matrix",
        "level": "iop",
        "weekdays": [1],
        "start_time": "09:00:00",
        "duration_minutes": 60,
        "capacity": 10,
        "facilitator_ref": "fac-1",
    }
    made = await api.post("/v1/groups", json=group, headers=bearer("tok-admin"))
    assert made.status_code in {200, 201}, made.text
    session = {
        "session_id": MATRIX_SESSION,
        "starts_at": "2026-01-05T09:00:00Z",
        "duration_minutes": 60,
    }
    added = await api.post(
        f"/v1/groups/{MATRIX_GROUP}/sessions", json=session, headers=bearer("tok-admin")
    )
    assert added.status_code in {200, 201}, added.text
    return str(body["episode_id"])


def _fill(body: dict[str, Any], episode_id: str) -> dict[str, Any]:
    return {k: episode_id if v == "{id}" else v for k, v in body.items()}


async def call(
    api: httpx.AsyncClient, operation: Guarded, episode_id: str, token: str | None
) -> httpx.Response:
    method, path, body = ENDPOINTS[operation]
    actor = KEYS[token].actor if token else "nobody"
    return await api.request(
        method,
        "/v1" + path.format(id=episode_id),
        json=_fill(body(actor), episode_id) if body else None,
        headers=bearer(token) if token else {},
    )


@pytest.mark.parametrize("operation", list(ENDPOINTS))
@pytest.mark.parametrize("role", list(Role))
async def test_role_by_endpoint_matrix(
    api: httpx.AsyncClient, episode_id: str, role: Role, operation: Guarded
) -> None:
    answer = await call(api, operation, episode_id, TOKEN_FOR_ROLE[role])
    if role in PERMISSIONS[operation]:
        # Allowed: the engine itself answers (its phase may still refuse), never 401/403.
        # (a resend, a call-back or an acknowledgement may find no such row: 404)
        allowed = {200, 201, 409, 422} | ({404} if operation in ABOUT_A_MISSING_ROW else set())
        assert answer.status_code in allowed, answer.text
        if answer.status_code == 422:
            assert answer.json()["type"].endswith(CONTENT_REFUSALS)
    else:
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("role-forbidden")


@pytest.mark.parametrize("operation", list(ENDPOINTS))
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not-a-key", "Basic dG9rLWNhcmU6", "tok-care"]
)
async def test_without_a_valid_key_every_endpoint_is_401(
    api: httpx.AsyncClient, episode_id: str, operation: Guarded, authorization: str | None
) -> None:
    method, path, _ = ENDPOINTS[operation]
    headers = {"Authorization": authorization} if authorization else {}
    answer = await api.request(method, "/v1" + path.format(id=episode_id), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["status"] == 401


async def test_a_key_may_not_see_another_programs_episode(
    api: httpx.AsyncClient, episode_id: str
) -> None:
    other = bearer("tok-care-other")
    for answer in (
        await api.get(f"/v1/episodes/{episode_id}", headers=other),
        await api.get(f"/v1/episodes/{episode_id}/timeline", headers=other),
        await api.post(
            f"/v1/episodes/{episode_id}/reviews", json=bodies.review("clin-9"), headers=other
        ),
    ):
        assert answer.status_code == 404, answer.text  # as if it did not exist
        assert answer.json()["type"].endswith("episode-not-found")
    named = await api.get("/v1/episodes", params={"program": "iop-adult"}, headers=other)
    assert named.status_code == 403, named.text
    assert named.json()["type"].endswith("program-forbidden")
    listed = await api.get("/v1/episodes", params={"limit": 500}, headers=other)
    assert listed.status_code == 200
    assert all(item["program_id"] == "php-teen" for item in listed.json()["items"])


async def test_starting_an_episode_in_a_program_the_key_may_not_see_is_403(
    api: httpx.AsyncClient,
) -> None:
    body = {**bodies.episode(), "program_id": "php-teen"}
    answer = await api.post("/v1/episodes", json=body, headers=bearer("tok-clinic"))
    assert answer.status_code == 403
    gone = await api.get(f"/v1/episodes/{body['episode_id']}", headers=bearer("tok-ops"))
    assert gone.status_code == 404  # nothing was started


async def test_a_personal_key_may_not_submit_as_someone_else(
    api: httpx.AsyncClient, episode_id: str
) -> None:
    answer = await api.post(
        f"/v1/episodes/{episode_id}/reviews",
        json=bodies.review("clin-somebody-else"),
        headers=bearer("tok-care"),
    )
    assert answer.status_code == 403
    assert answer.json()["type"].endswith("actor-forbidden")
