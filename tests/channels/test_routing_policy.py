"""Issue 12: a program chooses the route per recipient kind (patient: SMS / email / webhook;
care team and supervisor: webhook / email). Real PostgreSQL, a real SMTP server (aiosmtpd),
the local SMS gateway and a real webhook receiver: each choice arrives where it says, and
a choice that cannot be served (no address for it, a route the worker lacks) is an
undeliverable row operators list (and alerted when urgent), never a silent drop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from rules.messaging import ROUTES_ALLOWED, MessagingPolicy, RecipientKind, RecipientRoutes
from rules.policy import ProgramPolicy
from schemas.episode import ContactPreferences
from schemas.records import Recipient, Urgency
from store.channels.contacts import MessagingChannel, PostgresContacts
from store.channels.email import EmailSender, SmtpTarget
from store.channels.patient import PATIENT_CHANNEL, PatientChannel, Sender
from store.channels.routing import RecipientRouter, route_by_recipient
from store.channels.sms import SmsSender
from store.channels.staff_email import StaffEmailChannel, StaffEmailSender
from store.outbox import Channel, Dispatcher
from store.outbox_admin import AttentionStatus, needing_attention
from store.postgres import DEFAULT_CHANNEL, PostgresRecordStore
from store.webhook import WebhookChannel
from tests.channels.builders import PUBLIC_URL, Clock
from tests.channels.sms_gateway import ACCOUNT, FROM, TOKEN, Gateway
from tests.channels.smtp_server import PASSWORD, USER, Certificate, Mailbox, self_signed
from tests.channels.smtp_server import smtp_server as serve_smtp
from tests.store.store_builders import batch, note, snapshot
from tests.store.store_receiver import Receiver
from tests.store.store_receiver import serving as serve_webhook

PHONE = "+15005550123"
PATIENT_EMAIL = "pat@example.org"
CARE_TEAM = "care-team@clinic.example"
SUPERVISOR = "supervisor@clinic.example"
SECRET = "the-receivers-secret"
# 15:00 in Chicago: outside quiet hours.
AFTERNOON = datetime(2025, 1, 15, 21, 0, tzinfo=UTC)


# ------------------------------------------------------------------ the policy table


def test_the_kinds_are_the_recipients_the_engine_names() -> None:
    assert {k.value for k in RecipientKind} <= {r.value for r in Recipient}
    assert set(ROUTES_ALLOWED) == set(RecipientKind)


@pytest.mark.parametrize(
    ("routes", "field", "words"),
    [
        ({"care_team": "sms"}, "care_team", "sms is not a route for care_team"),
        ({"supervisor": "preferred"}, "supervisor", "not a route for supervisor"),
        ({"patient": "fax"}, "patient", "Input should be"),
        ({"care_team": "email"}, "care_team_email", "give one or more addresses"),
        (
            {"supervisor": "email", "supervisor_email": ["nobody"]},
            "supervisor_email",
            "email address",
        ),
        ({"carrier_pigeon": "webhook"}, "carrier_pigeon", "Extra inputs"),
    ],
)
def test_a_bad_choice_names_its_field(routes: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ProgramPolicy.model_validate({"messaging": {"routes": routes}})
    [error] = refused.value.errors()
    assert error["loc"] == ("messaging", "routes", field)
    assert words in error["msg"]


def test_the_defaults_are_todays_routes() -> None:
    routes = RecipientRoutes()
    assert [routes.route_for(k).value for k in RecipientKind] == ["preferred", "webhook", "webhook"]


# ------------------------------------------------------------------ delivery


@pytest.fixture(scope="module")
def cert() -> Iterator[Certificate]:
    with self_signed() as certificate:
        yield certificate


@dataclass
class Wires:
    """Where messages can land: the SMS gateway, the mailbox, the clinic's webhook."""

    gateway: Gateway
    mailbox: Mailbox
    webhook: Receiver
    dispatcher: Dispatcher


def _router(
    pool: asyncpg.Pool, gateway_url: str, smtp: SmtpTarget, cert: Certificate, hook: str
) -> tuple[RecipientRouter, list[WebhookChannel | httpx.AsyncClient]]:
    http = httpx.AsyncClient(timeout=10)
    sms = SmsSender(
        pool,
        base_url=gateway_url,
        account=ACCOUNT,
        token=TOKEN,
        from_number=FROM,
        public_url=PUBLIC_URL,
        client=http,
    )
    tls = cert.client_context()
    senders: dict[MessagingChannel, Sender] = {
        MessagingChannel.SMS: sms,
        MessagingChannel.EMAIL: EmailSender(smtp, "carepath@clinic.example", tls_context=tls),
    }
    clock = Clock(AFTERNOON)
    patients = PatientChannel(pool, senders, clock=clock)
    staff = StaffEmailChannel(StaffEmailSender(smtp, "carepath@clinic.example", tls_context=tls))
    webhook = WebhookChannel(hook, SECRET)
    return RecipientRouter(pool, webhook, patients=patients, staff_email=staff), [webhook, http]


@pytest.fixture
async def wires(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str], cert: Certificate
) -> AsyncIterator[Wires]:
    fake, url = gateway
    receiver = Receiver(SECRET)
    async with serve_webhook(receiver) as hook:
        with serve_smtp(cert) as (mailbox, port):
            smtp = SmtpTarget.from_url(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}")
            router, closing = _router(pool, url, smtp, cert, hook)
            routes: dict[str, Channel] = {DEFAULT_CHANNEL: router, PATIENT_CHANNEL: router}
            yield Wires(fake, mailbox, receiver, Dispatcher(pool, routes, clock=Clock(AFTERNOON)))
            for thing in closing:
                await thing.aclose()


async def _episode(
    pool: asyncpg.Pool, episode_id: str, routes: dict[str, Any], **contact: Any
) -> None:
    details = {"sms": True, "phone": PHONE, "time_zone": "America/Chicago", **contact}
    await PostgresContacts(pool).save_new(
        episode_id,
        ContactPreferences(**details),
        MessagingPolicy(routes=RecipientRoutes.model_validate(routes)),
    )


_seq = iter(range(1, 10_000))


async def _queue(
    pool: asyncpg.Pool, episode_id: str, recipient: Recipient, urgency: Urgency = Urgency.ROUTINE
) -> str:
    """A message queued as the engine's store queues it, due on the test's clock."""
    seq = next(_seq)
    message_id = f"care-episode-{episode_id}:m{seq}"
    store = PostgresRecordStore(pool, channel_for=route_by_recipient(True))
    message = note(message_id, episode_id, recipient=recipient, urgency=urgency)
    await store.apply(batch(seq, snapshot(episode_id), notifications=[message]))
    await pool.execute(
        "UPDATE notification_outbox SET next_attempt_at = $2 WHERE message_id = $1",
        message_id,
        AFTERNOON - timedelta(minutes=1),
    )
    return message_id


async def _status(pool: asyncpg.Pool, message_id: str) -> tuple[str, str | None]:
    row = await pool.fetchrow(
        "SELECT status, last_error FROM notification_outbox WHERE message_id = $1", message_id
    )
    assert row is not None
    return row["status"], row["last_error"]


def _to(mailbox: Mailbox) -> list[list[str]]:
    return [recipients for _sender, recipients in mailbox.envelopes]


async def test_sms_to_the_patient_email_to_the_care_team_webhook_to_the_supervisor(
    pool: asyncpg.Pool, wires: Wires
) -> None:
    await _episode(
        pool,
        "ep1",
        {"patient": "sms", "care_team": "email", "care_team_email": [CARE_TEAM]},
        email=True,
        email_address=PATIENT_EMAIL,
    )
    patient = await _queue(pool, "ep1", Recipient.PATIENT)
    care = await _queue(pool, "ep1", Recipient.CARE_TEAM, Urgency.URGENT)
    supervisor = await _queue(pool, "ep1", Recipient.SUPERVISOR)

    report = await wires.dispatcher.dispatch_due()

    assert report.sent == 3
    assert [s.to for s in wires.gateway.sent] == [PHONE]
    assert _to(wires.mailbox) == [[CARE_TEAM]]
    mail = wires.mailbox.accepted[0]
    assert mail["Subject"] == "carepath: URGENT message for the care team"
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes) and b"review_due" in body and b"ep1" in body
    assert [m["message_id"] for m in wires.webhook.processed] == [supervisor]
    for message_id in (patient, care, supervisor):
        assert (await _status(pool, message_id))[0] == "sent"


async def test_email_to_the_patient_webhook_to_the_care_team_email_to_the_supervisor(
    pool: asyncpg.Pool, wires: Wires
) -> None:
    await _episode(
        pool,
        "ep2",
        {"patient": "email", "supervisor": "email", "supervisor_email": [SUPERVISOR]},
        email=True,
        email_address=PATIENT_EMAIL,
    )
    await _queue(pool, "ep2", Recipient.PATIENT)
    care = await _queue(pool, "ep2", Recipient.CARE_TEAM)
    await _queue(pool, "ep2", Recipient.SUPERVISOR)

    assert (await wires.dispatcher.dispatch_due()).sent == 3

    assert wires.gateway.sent == []  # the patient prefers SMS, but the program said email
    assert sorted(_to(wires.mailbox)) == [[PATIENT_EMAIL], [SUPERVISOR]]
    subjects = {m["To"]: m["Subject"] for m in wires.mailbox.accepted}
    assert subjects[PATIENT_EMAIL] == "A message from your care team"
    assert subjects[SUPERVISOR] == "carepath: a message for the supervisor"
    assert [m["message_id"] for m in wires.webhook.processed] == [care]


async def test_the_patient_by_the_clinics_webhook(pool: asyncpg.Pool, wires: Wires) -> None:
    await _episode(pool, "ep3", {"patient": "webhook"})
    patient = await _queue(pool, "ep3", Recipient.PATIENT)

    assert (await wires.dispatcher.dispatch_due()).sent == 1

    assert wires.gateway.sent == [] and wires.mailbox.accepted == []
    [delivered] = wires.webhook.processed
    assert (delivered["message_id"], delivered["recipient_role"]) == (patient, "patient")


async def test_a_choice_with_no_address_for_it_is_undeliverable_and_listed(
    pool: asyncpg.Pool, wires: Wires
) -> None:
    await _episode(pool, "ep4", {"patient": "email"})  # no email address on file
    patient = await _queue(pool, "ep4", Recipient.PATIENT)

    report = await wires.dispatcher.dispatch_due()

    assert (report.sent, report.failed) == (0, 1)
    status, error = await _status(pool, patient)
    assert status == "undeliverable"
    assert error is not None and "the program sends patients email: no email address" in error
    listed = await needing_attention(pool, statuses=[AttentionStatus.UNDELIVERABLE], programs=None)
    assert [row.message_id for row in listed] == [patient]
    assert wires.gateway.sent == [] and wires.mailbox.accepted == []  # not sent by SMS instead


async def test_email_for_staff_on_a_worker_without_smtp_is_undeliverable_and_alerted(
    pool: asyncpg.Pool,
) -> None:
    await _episode(pool, "ep5", {"care_team": "email", "care_team_email": [CARE_TEAM]})
    urgent = await _queue(pool, "ep5", Recipient.CARE_TEAM, Urgency.URGENT)
    receiver = Receiver(SECRET)
    async with serve_webhook(receiver) as hook:
        webhook = WebhookChannel(hook, SECRET)
        router = RecipientRouter(pool, webhook)  # no patient channel, no SMTP
        clock = Clock(await pool.fetchval("SELECT now()"))
        dispatcher = Dispatcher(pool, {DEFAULT_CHANNEL: router}, clock=clock)
        first = await dispatcher.dispatch_due()
        status, error = await _status(pool, urgent)
        clock.now += timedelta(seconds=1)  # the alerts are queued at the database's now()
        second = await dispatcher.dispatch_due()
        await webhook.aclose()

    assert first.failed == 1
    assert status == "undeliverable"
    assert error is not None and "care_team email" in error and "CAREPATH_SMTP_URL" in error
    # The alert about it went out to operators and supervisors (by the webhook, the route
    # the program chose for supervisors); the care team's message itself did not.
    assert second.sent == 2
    assert sorted(m["recipient_role"] for m in receiver.processed) == ["operator", "supervisor"]
    assert {m["template"] for m in receiver.processed} == {"urgent_message_undeliverable"}
