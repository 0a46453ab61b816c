"""Issue 14 through the HTTP API: clinical nonsense is a 422 naming the field, before history."""

from __future__ import annotations

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.api import bodies
from tests.api.test_api_episodes import CARE, PROBLEM, enrolled_episode, start


def _fields(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    return {error["field"] for error in answer.json()["errors"]}


async def test_a_contradictory_cssrs_screen_is_422_and_records_nothing(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    before = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    review = bodies.review()
    review["cssrs"] = {
        "answers": [True, True, False, False, False, False],
        "behaviour_past_3_months": True,
    }
    answer = await api.post(f"/v1/episodes/{episode_id}/reviews", json=review, headers=CARE)
    assert any(field.startswith("body.cssrs") for field in _fields(answer))
    after = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    assert after["updated_at"] == before["updated_at"]
    assert after["scores"] == before["scores"]


async def test_a_nonsense_policy_is_422_naming_the_setting(api: httpx.AsyncClient) -> None:
    for setting, value in (
        ("appeal_window_days", 0),
        ("external_wait_days", 0),
        ("meaningful_change", 0),
        ("aftercare_checkin_days", []),
        ("time_zone", "Mars/Olympus_Mons"),
    ):
        body = bodies.episode()
        body["policy"] = {setting: value}
        fields = _fields(await start(api, body))
        assert any(f"policy.{setting}" in field for field in fields), (setting, fields)
