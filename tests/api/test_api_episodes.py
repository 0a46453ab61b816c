"""Starting, reading and driving an episode through the API (in-process, real worker)."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.api import bodies
from tests.api.conftest import bearer

CLINIC = bearer("tok-clinic")
CARE = bearer("tok-care")
OPS = bearer("tok-ops")
PROBLEM = "application/problem+json"


async def start(api: httpx.AsyncClient, body: dict[str, object]) -> httpx.Response:
    return await api.post("/v1/episodes", json=body, headers=CLINIC)


async def enrolled_episode(api: httpx.AsyncClient, api_env: WorkflowEnvironment) -> str:
    """An episode past assessment and eligibility (NOAUTH member), in treatment."""
    body = bodies.episode()
    assert (await start(api, body)).status_code == 201
    episode_id = str(body["episode_id"])
    answer = await api.post(
        f"/v1/episodes/{episode_id}/assessment", json=bodies.assessment(), headers=CARE
    )
    assert answer.status_code == 200, answer.text
    await api_env.sleep(timedelta(hours=1))
    state = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    assert state["phase"] == "in_treatment", state
    return episode_id


async def test_start_is_idempotent_on_episode_id(api: httpx.AsyncClient) -> None:
    body = bodies.episode()
    first = await start(api, body)
    assert first.status_code == 201, first.text
    assert first.json()["episode_id"] == body["episode_id"]
    assert first.json()["phase"] == "assessment"

    again = await start(api, body)
    assert again.status_code == 200
    assert again.json()["episode_id"] == body["episode_id"]
    assert again.json()["started_at"] == first.json()["started_at"]


async def test_start_with_a_different_body_under_the_same_id_is_409(
    api: httpx.AsyncClient,
) -> None:
    body = bodies.episode()
    assert (await start(api, body)).status_code == 201
    changed = {**body, "patient": {"patient_ref": "MRN-SYNTH-2"}}
    answer = await start(api, changed)
    assert answer.status_code == 409
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"].endswith("episode-id-conflict")


async def test_start_without_episode_id_generates_one(api: httpx.AsyncClient) -> None:
    body = bodies.episode()
    del body["episode_id"]
    answer = await start(api, body)
    assert answer.status_code == 201
    assert len(answer.json()["episode_id"]) >= 16


async def test_review_returns_the_engines_decision(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    review = bodies.review()
    answer = await api.post(f"/v1/episodes/{episode_id}/reviews", json=review, headers=CARE)
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    assert decision["submission_id"] == review["review_id"]
    assert decision["phase"] == "in_treatment"
    assert decision["recommended_action"] is not None
    assert "decide" in decision["allowed_actions"]


async def test_same_review_id_twice_is_answered_once(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    review = bodies.review()
    first = await api.post(f"/v1/episodes/{episode_id}/reviews", json=review, headers=CARE)
    second = await api.post(f"/v1/episodes/{episode_id}/reviews", json=review, headers=CARE)
    assert first.status_code == second.status_code == 200
    assert second.json()["submission_id"] == first.json()["submission_id"]
    state = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    assert state["scores"]["phq9_history"] == [8]  # one review recorded, not two


async def test_action_the_phase_does_not_allow_is_409_naming_allowed_actions(
    api: httpx.AsyncClient,
) -> None:
    body = bodies.episode()
    assert (await start(api, body)).status_code == 201
    answer = await api.post(
        f"/v1/episodes/{body['episode_id']}/reviews", json=bodies.review(), headers=CARE
    )
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["status"] == 409
    assert problem["type"].endswith("transition-not-allowed")
    assert "submit_assessment" in problem["allowed_actions"]
    assert "submit_review" not in problem["allowed_actions"]


async def test_invalid_body_is_422_with_field_messages(api: httpx.AsyncClient) -> None:
    body = bodies.episode()
    assert (await start(api, body)).status_code == 201
    review = bodies.review()
    review["phq9"] = {"items": [9, 1]}
    answer = await api.post(f"/v1/episodes/{body['episode_id']}/reviews", json=review, headers=CARE)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    fields = {error["field"] for error in answer.json()["errors"]}
    assert any(field.startswith("body.phq9.items") for field in fields)


async def test_unknown_episode_is_404(api: httpx.AsyncClient) -> None:
    for answer in (
        await api.get("/v1/episodes/ep-does-not-exist", headers=CARE),
        await api.post(
            "/v1/episodes/ep-does-not-exist/reviews", json=bodies.review(), headers=CARE
        ),
        await api.get("/v1/episodes/ep-does-not-exist/timeline", headers=CARE),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.json()["type"].endswith("episode-not-found")


async def test_closed_episode_refuses_changes_with_409(api: httpx.AsyncClient) -> None:
    body = bodies.episode()
    assert (await start(api, body)).status_code == 201
    episode_id = body["episode_id"]
    closed = await api.post(
        f"/v1/episodes/{episode_id}/events",
        json=bodies.event(kind="entered_in_error"),
        headers=CLINIC,
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["phase"] == "closed"
    answer = await api.post(
        f"/v1/episodes/{episode_id}/assessment", json=bodies.assessment(), headers=CARE
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["allowed_actions"] == []


async def test_timeline_records_every_actor(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    answer = await api.get(f"/v1/episodes/{episode_id}/timeline", headers=OPS)
    assert answer.status_code == 200, answer.text
    entries = answer.json()
    calls = [
        (e["operation"], e["actor"], e["status_code"]) for e in entries if e["kind"] == "api_call"
    ]
    assert calls == [("start_episode", "ehr-main", 201), ("submit_assessment", "clin-7", 200)]
    transitions = [e for e in entries if e["kind"] == "transition"]
    assert [t["to_phase"] for t in transitions][:2] == ["assessment", "insurance_verification"]
    assert any(t["actor"] == "clin-7" for t in transitions)
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)


async def test_list_reads_the_records_with_filters(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    listed = await api.get(
        "/v1/episodes", params={"phase": "in_treatment", "limit": 500}, headers=CARE
    )
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert episode_id in {item["episode_id"] for item in page["items"]}
    assert all(item["phase"] == "in_treatment" for item in page["items"])

    assessment_only = await api.get("/v1/episodes", params={"phase": "closed"}, headers=CARE)
    assert episode_id not in {item["episode_id"] for item in assessment_only.json()["items"]}

    census = await api.get("/v1/census", headers=OPS)
    assert census.status_code == 200
    assert any(row["phase"] == "in_treatment" and row["episodes"] >= 1 for row in census.json())


async def test_the_list_the_episode_and_the_timeline_name_the_levels_alike(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    """One fact, one name: `delivered_level` / `authorized_level` everywhere in the HTTP
    contract (the database columns keep their own names)."""
    episode_id = await enrolled_episode(api, api_env)
    view = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    listed = await api.get(
        "/v1/episodes", params={"phase": "in_treatment", "limit": 500}, headers=CARE
    )
    item = next(i for i in listed.json()["items"] if i["episode_id"] == episode_id)
    assert view["delivered_level"] == "iop"
    for name in ("delivered_level", "authorized_level"):
        assert item[name] == view[name]
    timeline = (await api.get(f"/v1/episodes/{episode_id}/timeline", headers=OPS)).json()
    enrolled = [
        e for e in timeline if e["kind"] == "transition" and e["to_phase"] == "in_treatment"
    ]
    assert enrolled and {"delivered_level", "authorized_level"} <= set(enrolled[-1])
    spelled_backwards = {"level_delivered", "level_authorized"}
    assert not spelled_backwards & (set(item) | set(view) | set(enrolled[-1]))
    openapi = json.dumps((await api.get("/openapi.json")).json())
    assert not any(name in openapi for name in spelled_backwards)
