"""Email over SMTP against a real aiosmtpd server: STARTTLS and implicit TLS with AUTH,
content-free mail, and the server's refusals mapped to permanent vs retryable."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from store.channels.email import EmailSender, SmtpTarget
from store.channels.messages import TEXT
from store.outbox import DeliveryError, PermanentDeliveryError
from tests.channels.builders import patient_message
from tests.channels.smtp_server import (
    DEFERRED,
    PASSWORD,
    REFUSED,
    USER,
    Certificate,
    free_port,
    self_signed,
    smtp_server,
)

FROM = "care@clinic.example"
PATIENT = "patient@example.org"


@pytest.fixture(scope="module")
def cert() -> Iterator[Certificate]:
    with self_signed() as certificate:
        yield certificate


def sender(cert: Certificate, url: str) -> EmailSender:
    return EmailSender(
        SmtpTarget.from_url(url), FROM, tls_context=cert.client_context(), timeout_s=5
    )


async def test_starttls_with_auth_delivers_a_content_free_message(cert: Certificate) -> None:
    with smtp_server(cert) as (mailbox, port):
        email = sender(cert, f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}")
        await email.send(patient_message(), PATIENT)
    assert mailbox.tls_seen == [True]
    assert mailbox.envelopes == [(FROM, [PATIENT])]
    mail = mailbox.accepted[0]
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert body.decode().strip() == TEXT
    # No program name, no episode ID, no clinical word anywhere in what left.
    raw = mail.as_string().lower()
    for leak in ("sud-iop", "ep1", "care-episode", "phq", "iop"):
        assert leak not in raw
    assert mail["Message-ID"].endswith("@clinic.example>")


async def test_message_id_header_is_stable_across_retries(cert: Certificate) -> None:
    with smtp_server(cert) as (mailbox, port):
        email = sender(cert, f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}")
        await email.send(patient_message(), PATIENT)
        await email.send(patient_message(), PATIENT)
    assert len({m["Message-ID"] for m in mailbox.accepted}) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls_with_auth(cert: Certificate) -> None:
    with smtp_server(cert, implicit_tls=True) as (mailbox, port):
        email = sender(cert, f"smtps://{USER}:{PASSWORD}@127.0.0.1:{port}")
        await email.send(patient_message(), PATIENT)
    assert mailbox.tls_seen == [True]
    assert len(mailbox.accepted) == 1


async def test_wrong_password_is_retryable_and_sends_nothing(cert: Certificate) -> None:
    with smtp_server(cert) as (mailbox, port):
        email = sender(cert, f"smtp://{USER}:wrong@127.0.0.1:{port}")
        with pytest.raises(DeliveryError) as raised:
            await email.send(patient_message(), PATIENT)
    assert not isinstance(raised.value, PermanentDeliveryError)
    assert mailbox.accepted == []


async def test_refused_recipient_is_permanent_and_deferred_is_retryable(
    cert: Certificate,
) -> None:
    with smtp_server(cert) as (mailbox, port):
        email = sender(cert, f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}")
        with pytest.raises(PermanentDeliveryError) as refused:
            await email.send(patient_message(), REFUSED)
        with pytest.raises(DeliveryError) as deferred:
            await email.send(patient_message(), DEFERRED)
    assert not isinstance(deferred.value, PermanentDeliveryError)
    assert mailbox.accepted == []
    # The error text kept in the outbox row does not carry the address.
    assert REFUSED not in str(refused.value) and DEFERRED not in str(deferred.value)


async def test_nobody_listening_is_retryable(cert: Certificate) -> None:
    email = sender(cert, f"smtp://{USER}:{PASSWORD}@127.0.0.1:{free_port()}")
    with pytest.raises(DeliveryError) as raised:
        await asyncio.wait_for(email.send(patient_message(), PATIENT), timeout=60)
    assert not isinstance(raised.value, PermanentDeliveryError)


def test_smtp_url_rules() -> None:
    assert SmtpTarget.from_url("smtp://u:p%40ss@mail.example:2525").password == "p@ss"
    assert SmtpTarget.from_url("smtps://mail.example").port == 465
    assert SmtpTarget.from_url("smtp://mail.example").start_tls is True
    with pytest.raises(ValueError, match="loopback"):
        SmtpTarget.from_url("smtp://mail.example:25?starttls=false")
    assert SmtpTarget.from_url("smtp://127.0.0.1:25?starttls=false").start_tls is False
    with pytest.raises(ValueError):
        SmtpTarget.from_url("http://mail.example")
