"""The API side of the channels: contact details kept out of Temporal at start, the SMS
gateway's signed callbacks (403 and nothing changed on a bad signature), replies that
withdraw and restore consent on the timeline, and operators' resend."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.episodes_client import EpisodeClient
from api.settings import ApiSettings
from store.channels.contacts import PostgresContacts
from store.channels.sms import INBOUND_PATH, STATUS_CALLBACK_PATH
from tests.api import bodies
from tests.api.conftest import (  # noqa: F401  (fixtures shared with the API tests)
    api_env,
    api_pg_dsn,
    api_pool,
    api_settings,
    api_worker,
    bearer,
)
from tests.channels.sms_gateway import TOKEN, Gateway, SentSms

PUBLIC = "https://carepath.example"
PHONE = "+15005550177"


@pytest.fixture(scope="module")
def channels_app(
    api_env: WorkflowEnvironment,  # noqa: F811
    api_pool: asyncpg.Pool,  # noqa: F811
    api_settings: ApiSettings,  # noqa: F811
    # requested for its side effect: the episode worker runs
    api_worker: None,  # noqa: F811, ARG001
) -> FastAPI:
    settings = api_settings.model_copy(update={"public_url": PUBLIC, "sms_token": SecretStr(TOKEN)})
    return create_app(ApiDeps(client=api_env.client, pool=api_pool, settings=settings))


@pytest.fixture(scope="module")
async def client(channels_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=channels_app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
        yield http


async def _start(client: httpx.AsyncClient, **contact: object) -> dict[str, object]:
    body = bodies.episode()
    body["contact"] = {"sms": True, "phone": PHONE, "time_zone": "America/Denver", **contact}
    answer = await client.post("/v1/episodes", json=body, headers=bearer("tok-clinic"))
    assert answer.status_code == 201, answer.text
    return body


async def test_contact_details_go_to_postgres_not_temporal(
    client: httpx.AsyncClient,
    api_pool: asyncpg.Pool,  # noqa: F811
    api_env: WorkflowEnvironment,  # noqa: F811
) -> None:
    body = await _start(client, email=True, email_address="pat@example.org")
    episode_id = str(body["episode_id"])
    stored = await PostgresContacts(api_pool).get(episode_id)
    assert stored is not None
    assert (stored.phone, stored.email_address, stored.time_zone) == (
        PHONE,
        "pat@example.org",
        "America/Denver",
    )
    engine = EpisodeClient(api_env.client, task_queue="unused", timeout=timedelta(seconds=10))
    original = await engine.original_start(episode_id)
    assert original is not None
    assert original.contact.phone is None and original.contact.email_address is None
    assert original.contact.sms is True and original.contact.time_zone is None
    history = await api_env.client.get_workflow_handle(f"care-episode-{episode_id}").fetch_history()
    assert PHONE not in json.dumps(history.to_json_dict())
    # The same start again is a retry; a different phone is a conflict and changes nothing.
    again = await client.post("/v1/episodes", json=body, headers=bearer("tok-clinic"))
    assert again.status_code == 200, again.text
    changed = {**body, "contact": {**body["contact"], "phone": "+15005550999"}}  # type: ignore[dict-item]
    conflict = await client.post("/v1/episodes", json=changed, headers=bearer("tok-clinic"))
    assert conflict.status_code == 409
    stored_after = await PostgresContacts(api_pool).get(episode_id)
    assert stored_after is not None and stored_after.phone == PHONE


async def test_a_route_choice_is_stored_and_a_bad_one_is_422_naming_the_field(
    client: httpx.AsyncClient,
    api_pool: asyncpg.Pool,  # noqa: F811
) -> None:
    routes = {"patient": "email", "care_team": "email", "care_team_email": ["team@clinic.example"]}
    body = bodies.episode()
    body["policy"] = {"messaging": {"routes": routes}}
    body["contact"] = {"email": True, "email_address": "pat@example.org"}
    answer = await client.post("/v1/episodes", json=body, headers=bearer("tok-clinic"))
    assert answer.status_code == 201, answer.text
    stored = await PostgresContacts(api_pool).get(str(body["episode_id"]))
    assert stored is not None
    assert stored.messaging.routes.care_team_email == ("team@clinic.example",)
    assert (stored.messaging.routes.patient, stored.messaging.routes.care_team) == (
        "email",
        "email",
    )

    bad = bodies.episode()
    bad["policy"] = {"messaging": {"routes": {"supervisor": "email"}}}
    refused = await client.post("/v1/episodes", json=bad, headers=bearer("tok-clinic"))
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"] == "body.policy.messaging.routes.supervisor_email"
    assert "give one or more addresses" in error["message"]
    assert await PostgresContacts(api_pool).get(str(bad["episode_id"])) is None


async def _sent_row(pool: asyncpg.Pool, message_id: str, sid: str) -> SentSms:
    await pool.execute(
        """
        INSERT INTO notification_outbox (message_id, episode_id, program_id, workflow_id, seq,
            channel, template, recipient_role, urgency, status, sent_at)
        VALUES ($1, 'ep-cb', 'prog', 'care-episode-ep-cb', 1, 'patient', 'new_message',
            'patient', 'routine', 'sent', now())
        """,
        message_id,
    )
    await pool.execute(
        "INSERT INTO sms_deliveries (provider_id, message_id) VALUES ($1, $2)", sid, message_id
    )
    return SentSms(sid, PHONE, "+15005550006", "x", PUBLIC + STATUS_CALLBACK_PATH)


async def _status(pool: asyncpg.Pool, message_id: str) -> str:
    status: str = await pool.fetchval(
        "SELECT status FROM notification_outbox WHERE message_id = $1", message_id
    )
    return status


async def test_signed_status_callback_moves_the_row_and_a_bad_signature_is_403(
    client: httpx.AsyncClient,
    api_pool: asyncpg.Pool,  # noqa: F811
) -> None:
    gateway = Gateway()
    sms = await _sent_row(api_pool, "care-episode-ep-cb:m1", "SMcallback1")
    forged = await gateway.report(client, sms, "undelivered", token="wrong-token")
    assert forged.status_code == 403
    assert await _status(api_pool, "care-episode-ep-cb:m1") == "sent"
    answer = await gateway.report(client, sms, "delivered")
    assert answer.status_code == 204, answer.text
    assert await _status(api_pool, "care-episode-ep-cb:m1") == "delivered"
    unsigned = await client.post(
        STATUS_CALLBACK_PATH, data={"MessageSid": sms.sid, "MessageStatus": "failed"}
    )
    assert unsigned.status_code == 403
    assert await _status(api_pool, "care-episode-ep-cb:m1") == "delivered"


async def test_stop_and_start_replies_change_consent_on_the_timeline(
    client: httpx.AsyncClient,
    api_pool: asyncpg.Pool,  # noqa: F811
) -> None:
    phone = "+15005550188"
    body = await _start(client, phone=phone)
    episode_id = str(body["episode_id"])
    gateway = Gateway()
    url = PUBLIC + INBOUND_PATH
    forged = await gateway.reply(client, url, phone, "STOP", token="wrong-token")
    assert forged.status_code == 403
    stored = await PostgresContacts(api_pool).get(episode_id)
    assert stored is not None and stored.sms_consent is True
    stop = await gateway.reply(client, url, phone, "Stop")
    assert stop.status_code == 200 and "<Response>" in stop.text
    stored = await PostgresContacts(api_pool).get(episode_id)
    assert stored is not None and stored.sms_consent is False
    await gateway.reply(client, url, phone, "START")
    timeline = await client.get(f"/v1/episodes/{episode_id}/timeline", headers=bearer("tok-care"))
    assert timeline.status_code == 200, timeline.text
    events = [e["event"] for e in timeline.json() if e["kind"] == "messaging"]
    assert events == ["messaging_consent_withdrawn", "messaging_consent_restored"]
    assert phone not in timeline.text


async def test_operators_list_and_resend_failed_messages(
    client: httpx.AsyncClient,
    api_pool: asyncpg.Pool,  # noqa: F811
) -> None:
    await api_pool.execute(
        """
        INSERT INTO notification_outbox (message_id, episode_id, program_id, workflow_id, seq,
            channel, template, recipient_role, urgency, status, attempts, last_error)
        VALUES ('care-episode-ep-ops:m1', 'ep-ops', 'prog', 'care-episode-ep-ops', 1,
            'default', 'review_due', 'care_team', 'routine', 'failed', 8, 'HTTP 503')
        """
    )
    listed = await client.get(
        "/v1/outbox/messages", params={"status": "failed"}, headers=bearer("tok-ops")
    )
    assert listed.status_code == 200
    assert "care-episode-ep-ops:m1" in [m["message_id"] for m in listed.json()["items"]]
    care = await client.get("/v1/outbox/messages", headers=bearer("tok-care"))
    assert care.status_code == 403
    bad = await client.get(
        "/v1/outbox/messages", params={"status": "sent"}, headers=bearer("tok-ops")
    )
    assert bad.status_code == 422
    path = "/v1/outbox/messages/care-episode-ep-ops:m1/resend"
    resent = await client.post(path, headers=bearer("tok-ops"))
    assert resent.status_code == 200, resent.text
    assert (resent.json()["message_id"], resent.json()["status"]) == (
        "care-episode-ep-ops:m1",
        "pending",
    )
    again = await client.post(path, headers=bearer("tok-ops"))
    assert again.status_code == 409 and "failed or undeliverable" in again.json()["detail"]
    unknown = await client.post(
        "/v1/outbox/messages/care-episode-nope:m1/resend", headers=bearer("tok-ops")
    )
    assert unknown.status_code == 404
