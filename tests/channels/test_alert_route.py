"""Issue 14 item 5: an urgent message that cannot be delivered is escalated on another
route (the alert route: email to the on-call address), not re-sent on the one that failed.

Real PostgreSQL, a real webhook receiver that refuses our signature, a real SMTP server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import asyncpg
import pytest

from schemas.records import Urgency
from store.channels.alerts import ALERT_SUBJECT, AlertEmailChannel, AlertEmailSender
from store.channels.email import SmtpTarget
from store.outbox import ALERT_CHANNEL, Channel, Dispatcher, LogChannel
from store.postgres import DEFAULT_CHANNEL, PostgresRecordStore
from store.webhook import WebhookChannel
from tests.channels.builders import Clock
from tests.channels.smtp_server import PASSWORD, USER, Certificate, self_signed, smtp_server
from tests.store.store_builders import batch, note, snapshot
from tests.store.store_receiver import Receiver, serving

ON_CALL = "on-call@clinic.example"


@pytest.fixture(scope="module")
def cert() -> Iterator[Certificate]:
    with self_signed() as certificate:
        yield certificate


async def _rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT message_id, channel, template, recipient_role, status, params"
            " FROM notification_outbox ORDER BY message_id"
        )
    )


async def test_the_alert_goes_by_email_when_the_webhook_refuses_the_safety_alert(
    pool: asyncpg.Pool, cert: Certificate
) -> None:
    urgent = note("care-episode-ep1:1:0", urgency=Urgency.URGENT, template="safety_alert")
    await PostgresRecordStore(pool).apply(batch(1, snapshot(), notifications=[urgent]))
    async with serving(Receiver("the-receivers-secret")) as url:
        webhook = WebhookChannel(url, "not-the-receivers-secret")
        with smtp_server(cert) as (mailbox, port):
            target = SmtpTarget.from_url(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}")
            sender = AlertEmailSender(
                target, "carepath@clinic.example", tls_context=cert.client_context()
            )
            routes: dict[str, Channel] = {
                DEFAULT_CHANNEL: webhook,
                ALERT_CHANNEL: AlertEmailChannel(sender, [ON_CALL]),
            }
            clock = Clock(await pool.fetchval("SELECT now()"))
            dispatcher = Dispatcher(pool, routes, clock=clock)

            first = await dispatcher.dispatch_due()
            assert first.failed == 1
            rows = await _rows(pool)
            assert [(r["channel"], r["recipient_role"], r["status"]) for r in rows] == [
                (DEFAULT_CHANNEL, "care_team", "failed"),
                (ALERT_CHANNEL, "operator", "pending"),
                (ALERT_CHANNEL, "supervisor", "pending"),
            ]
            assert json.loads(rows[1]["params"])["failed_route"] == DEFAULT_CHANNEL

            clock.now += timedelta(seconds=1)
            second = await dispatcher.dispatch_due()
        await webhook.aclose()
    assert second.sent == 2
    assert [r["status"] for r in await _rows(pool)] == ["failed", "sent", "sent"]
    assert mailbox.envelopes == [("carepath@clinic.example", [ON_CALL])] * 2
    mail = mailbox.accepted[0]
    assert mail["Subject"] == ALERT_SUBJECT
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    assert urgent.message_id in text and "safety_alert" in text and "default" in text
    assert "MRN" not in mail.as_string()


def test_the_alert_route_is_never_the_failed_one_while_another_is_served(
    pool: asyncpg.Pool,
) -> None:
    patients = Dispatcher(pool, {DEFAULT_CHANNEL: LogChannel(), "patient": LogChannel()})
    assert patients.alert_route("patient") == DEFAULT_CHANNEL
    assert patients.alert_route(DEFAULT_CHANNEL) == DEFAULT_CHANNEL  # nothing else to use
    alerts = Dispatcher(pool, {DEFAULT_CHANNEL: LogChannel(), ALERT_CHANNEL: LogChannel()})
    assert alerts.alert_route(DEFAULT_CHANNEL) == ALERT_CHANNEL
    assert alerts.alert_route(ALERT_CHANNEL) == DEFAULT_CHANNEL
