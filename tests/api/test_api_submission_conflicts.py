"""A submission ID reused: a retry (same content) vs a correction (different content), and
IDs of different kinds that happen to be equal (through the API, real worker)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.api import bodies
from tests.api.test_api_episodes import CARE, PROBLEM, enrolled_episode


async def test_a_retry_is_a_marked_duplicate_and_a_correction_is_a_409_conflict(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    url = f"/v1/episodes/{episode_id}/reviews"
    review = bodies.review()
    first = await api.post(url, json=review, headers=CARE)
    assert first.status_code == 200, first.text
    assert first.json()["duplicate"] is False

    retry = await api.post(url, json=review, headers=CARE)
    assert retry.status_code == 200, retry.text
    assert retry.json()["duplicate"] is True
    assert {**retry.json(), "duplicate": False} == first.json()

    corrected = {**review, "phq9": {"items": [3, 3, 3, 3, 3, 3, 2, 2, 0]}}
    conflict = await api.post(url, json=corrected, headers=CARE)
    assert conflict.status_code == 409, conflict.text
    assert conflict.headers["content-type"] == PROBLEM
    assert conflict.json()["type"].endswith("submission-conflict")
    assert "different content" in conflict.json()["detail"]

    state = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    assert state["scores"]["phq9_history"] == [8]  # the first review only


async def test_a_decision_id_equal_to_a_review_id_is_its_own_submission(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    review = bodies.review()
    reviewed = await api.post(f"/v1/episodes/{episode_id}/reviews", json=review, headers=CARE)
    assert reviewed.status_code == 200, reviewed.text
    decision = {**bodies.decision(), "decision_id": review["review_id"], "reason": "plan agreed"}

    url = f"/v1/episodes/{episode_id}/decisions"
    answer = await api.post(url, json=decision, headers=CARE)

    assert answer.status_code == 200, answer.text
    assert answer.json()["duplicate"] is False
    assert answer.json()["recommended_action"] is None  # a decision's answer, not the review's
    await api_env.sleep(timedelta(hours=1))  # the worker writes the records
    timeline = (await api.get(f"/v1/episodes/{episode_id}/timeline", headers=CARE)).json()
    reasons = [e.get("reason") for e in timeline if e["kind"] == "transition"]
    assert "continued_same_level" in reasons, timeline


async def test_the_openapi_document_says_ids_are_unique_per_kind(api: httpx.AsyncClient) -> None:
    schemas = (await api.get("/openapi.json")).json()["components"]["schemas"]
    for model, field in (
        ("AssessmentSubmission", "assessment_id"),
        ("CoverageSubmission", "submission_id"),
        ("AuthorizationDecision", "decision_id"),
        ("ReviewSubmission", "review_id"),
        ("ClinicianDecision", "decision_id"),
        ("EpisodeEvent", "event_id"),
    ):
        description = schemas[model]["properties"][field]["description"]
        assert "unique per episode and kind" in description.lower(), model
        assert "submission-conflict" in description, model
