"""Issue 12's safety net over HTTP, on the CareEpisode workflow (time-skipping server): the
care team acknowledges the urgent risk alert (who, when, what was done); nobody doing so
within the policy's hour escalates it to the supervisor, then again, by durable timers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from tests.api import bodies
from tests.api.conftest import bearer
from tests.api.test_api_episodes import CARE, enrolled_episode
from tests.timeline import timeline_until

UR = bearer("tok-ur")


def risky_review() -> dict[str, Any]:
    review = bodies.review()
    review["phq9"] = {"items": [1, 1, 1, 1, 1, 1, 1, 1, 1]}  # item 9: thoughts of self-harm
    return review


def acknowledgement(ack_id: str | None = None) -> dict[str, Any]:
    return {
        "acknowledgement_id": ack_id or bodies.new_id("ack"),
        "acknowledged_by": "clin-7",
        "response": "reached_patient",
    }


async def flagged(api: httpx.AsyncClient, env: WorkflowEnvironment) -> str:
    episode_id = await enrolled_episode(api, env)
    answer = await api.post(f"/v1/episodes/{episode_id}/reviews", json=risky_review(), headers=CARE)
    assert answer.status_code == 200, answer.text
    assert "risk" in answer.json()["flags"]
    return episode_id


async def test_the_care_team_acknowledges_the_alert_once_and_the_flag_stays_open(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await flagged(api, api_env)
    path = f"/v1/episodes/{episode_id}/alert-acknowledgements"
    body = acknowledgement()
    refused = await api.post(path, json={**body, "acknowledged_by": "ur-3"}, headers=UR)
    assert refused.status_code == 403  # utilization review does not acknowledge safety alerts
    answer = await api.post(path, json=body, headers=CARE)
    assert answer.status_code == 200, answer.text
    assert "risk" in answer.json()["flags"]
    view = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    assert view["risk_alert"]["acknowledged_by"] == "clin-7"
    assert view["risk_alert"]["acknowledged_at"] is not None

    assert (await api.post(path, json=body, headers=CARE)).status_code == 200  # a retry
    twice = await api.post(path, json=acknowledgement(), headers=CARE)
    assert twice.status_code == 422, twice.text
    assert "already acknowledged by 'clin-7'" in twice.text
    entries = await timeline_until(
        api,
        episode_id,
        CARE,
        lambda rows: any(r.get("event") == "risk_alert_acknowledged" for r in rows),
    )
    [step] = [r for r in entries if r.get("event") == "risk_alert_acknowledged"]
    assert step["actor"] == "clin-7"


async def test_nothing_to_acknowledge_is_422_and_changes_nothing(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    before = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    answer = await api.post(
        f"/v1/episodes/{episode_id}/alert-acknowledgements", json=acknowledgement(), headers=CARE
    )
    assert answer.status_code == 422 and "nothing to acknowledge" in answer.text
    after = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    assert after["updated_at"] == before["updated_at"]


async def test_unacknowledged_the_alert_climbs_the_ladder_on_durable_timers(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> None:
    episode_id = await flagged(api, api_env)
    await api_env.sleep(timedelta(hours=2, minutes=5))
    view = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    assert view["risk_alert"]["unacknowledged_escalations"] == 2, view["risk_alert"]
    await timeline_until(
        api,
        episode_id,
        CARE,
        lambda rows: any(r.get("event") == "risk_alert_unacknowledged_again" for r in rows),
    )
    rows = await api_pool.fetch(
        """SELECT recipient_role, urgency, params ->> 'step' AS step FROM notification_outbox
        WHERE episode_id = $1 AND template = 'risk_alert_unacknowledged' ORDER BY message_id""",
        episode_id,
    )
    assert sorted((r["recipient_role"], r["step"]) for r in rows) == [
        ("care_team", "2"),
        ("supervisor", "1"),
        ("supervisor", "2"),
    ]
    assert {r["urgency"] for r in rows} == {"urgent"}
