"""Contract gaps of issue 8: 400 for malformed JSON, 404 for another program's episode,
`Allow` across routes, the step_down/step_up rule in the OpenAPI document, and the
aftercare check-in and the clinician's reason shown to the care team."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from rules import schedule
from rules.policy import ProgramPolicy
from tests.api import bodies
from tests.api.conftest import bearer
from tests.api.test_api_episodes import enrolled_episode
from tests.timeline import timeline_until

CLINIC = bearer("tok-clinic")
CARE = bearer("tok-care")
OTHER = bearer("tok-care-other")
OPS = bearer("tok-ops")


@pytest.fixture(scope="module")
async def episode_id(api: httpx.AsyncClient) -> str:
    body = bodies.episode()
    assert (await api.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    return str(body["episode_id"])


@pytest.mark.parametrize("path", ["/v1/episodes", "/v1/episodes/{id}/reviews"])
async def test_malformed_json_is_400(api: httpx.AsyncClient, episode_id: str, path: str) -> None:
    answer = await api.post(
        path.format(id=episode_id),
        content=b'{"review_id": "r-1",',
        headers={**CARE, **CLINIC, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("malformed-json")


def test_the_document_says_malformed_json_is_400(api_app: FastAPI) -> None:
    for path, operations in api_app.openapi()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                assert "400" in operation["responses"], f"{method} {path}"


async def test_another_programs_episode_is_404_like_an_unknown_one(
    api: httpx.AsyncClient, episode_id: str
) -> None:
    def same_shape(answer: httpx.Response, asked: str) -> dict[str, Any]:
        assert answer.status_code == 404, answer.text
        body: dict[str, Any] = answer.json()
        body["detail"] = body["detail"].replace(asked, "ID")
        body["instance"] = body["instance"].replace(asked, "ID")
        return body

    unknown = "ep-never-started"
    for suffix, method, body in (
        ("", "GET", None),
        ("/timeline", "GET", None),
        ("/reviews", "POST", bodies.review("clin-9")),
    ):
        hidden = await api.request(
            method, f"/v1/episodes/{episode_id}{suffix}", json=body, headers=OTHER
        )
        absent = await api.request(
            method, f"/v1/episodes/{unknown}{suffix}", json=body, headers=OTHER
        )
        assert same_shape(hidden, episode_id) == same_shape(absent, unknown)


async def test_options_lists_every_method_of_a_path(
    api: httpx.AsyncClient, api_app: FastAPI
) -> None:
    for path, operations in api_app.openapi()["paths"].items():
        url = path.replace("{episode_id}", "ep-1")
        answer = await api.options(url)
        assert answer.status_code == 204, (path, answer.text)
        expected = {m.upper() for m in operations} | {"OPTIONS"}
        assert set(answer.headers["allow"].split(", ")) == expected, path
    refused = await api.delete("/v1/episodes", headers=CARE)
    assert refused.status_code == 405
    assert set(refused.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}


def test_a_level_change_without_target_level_is_invalid_by_the_document(
    api_app: FastAPI,
) -> None:
    document = api_app.openapi()
    schema = {
        "$ref": "#/components/schemas/ClinicianDecision",
        "components": document["components"],
    }
    validator = jsonschema_rs.validator_for(schema)
    base = {"decision_id": "d-1", "clinician_id": "clin-7"}
    for action in ("step_down", "step_up"):
        assert not validator.is_valid({**base, "action": action})
        assert not validator.is_valid({**base, "action": action, "target_level": None})
        assert validator.is_valid({**base, "action": action, "target_level": "op"})
    for action in ("continue", "discharge"):
        assert validator.is_valid({**base, "action": action})


async def test_a_level_change_without_target_level_is_422_naming_the_rule(
    api: httpx.AsyncClient, episode_id: str
) -> None:
    decision = {**bodies.decision(), "action": "step_down"}
    answer = await api.post(f"/v1/episodes/{episode_id}/decisions", json=decision, headers=CARE)
    assert answer.status_code == 422
    assert "target_level" in answer.text


async def test_the_view_shows_when_the_next_aftercare_checkin_falls_due(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    treating = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    assert treating["next_aftercare_checkin_due"] is None
    decision = {**bodies.decision(), "action": "discharge"}
    answer = await api.post(f"/v1/episodes/{episode_id}/decisions", json=decision, headers=CARE)
    assert answer.status_code == 200, answer.text
    assert answer.json()["phase"] == "aftercare"
    view = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    discharged = _discharged_at(
        await _timeline_until(api, episode_id, lambda e: e.get("to_phase") == "aftercare")
    )
    # Day 7 and day 30 after the discharge, moved into the patient-message window (engine
    # V4: 08:00-21:00 in the program's zone) when the day's hour falls outside it.
    checkins = _checkins_after(discharged)
    assert datetime.fromisoformat(view["next_aftercare_checkin_due"]) == checkins[0]
    assert timedelta(days=7) <= checkins[0] - discharged < timedelta(days=7, hours=12)
    await api_env.sleep(timedelta(days=8))
    later = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    assert later["aftercare_checkins_done"] == 1
    assert datetime.fromisoformat(later["next_aftercare_checkin_due"]) == checkins[1]
    assert timedelta(days=30) <= checkins[1] - discharged < timedelta(days=30, hours=12)


def _checkins_after(discharged: datetime) -> list[datetime]:
    """The default program's check-in times, by the rule the engine's timers use."""
    policy = ProgramPolicy()
    timing = policy.model_copy(update={"patient_message_window_hours": policy.message_window()})
    return schedule.aftercare_checkins(discharged, timing)


async def _timeline_until(
    api: httpx.AsyncClient, episode_id: str, wanted: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    return await timeline_until(api, episode_id, OPS, lambda entries: any(map(wanted, entries)))


def _discharged_at(entries: list[dict[str, Any]]) -> datetime:
    moves = [e for e in entries if e["kind"] == "transition" and e["to_phase"] == "aftercare"]
    assert len(moves) == 1, entries
    return datetime.fromisoformat(moves[0]["at"])


async def test_the_clinicians_reason_shows_in_the_timeline(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    plan = "attendance plan: transport arranged,\nevening group from next week"
    decision = {**bodies.decision(), "reason": plan}
    answer = await api.post(f"/v1/episodes/{episode_id}/decisions", json=decision, headers=CARE)
    assert answer.status_code == 200, answer.text
    entries = await _timeline_until(
        api, episode_id, lambda e: e.get("review_id") == decision["decision_id"]
    )
    decided = [e for e in entries if e.get("review_id") == decision["decision_id"]]
    assert len(decided) == 1, entries
    assert decided[0]["review_kind"] == "decision"
    assert decided[0]["reason"] == plan
    assert decided[0]["reasons"] == [plan]
