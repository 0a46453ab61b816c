"""The patient's questionnaire page over HTTP, on the real workflow (time-skipping server)
and PostgreSQL: the link made by the patient channel as it sends the review's message
(a real aiosmtpd server), the date of birth first, errors beside the items, the measure
recorded through the Update and used by the next review, single use, one plain page for
every link that does not open, token guessing refused, and the safety net for item 9."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.problems import ApiProblem
from api.settings import ApiSettings
from api.workbench.patient_page import PatientPageSettings, RedactLinkTokens
from api.workbench.settings import WorkbenchSettings
from rules.messaging import MessagingPolicy
from rules.transitions import Action
from schemas.submissions import PatientMeasureSubmission, Phq9
from store.channels.contacts import MessagingChannel
from store.channels.email import EmailSender, SmtpTarget
from store.channels.links import Instrument, PostgresLinks
from store.channels.patient import PatientChannel, Sender
from store.outbox import OutboxMessage
from tests.api import bodies
from tests.api.conftest import bearer
from tests.channels.smtp_server import PASSWORD, USER, Certificate, self_signed, smtp_server
from tests.timeline import timeline_until

CLINIC = bearer("tok-clinic")
CARE = bearer("tok-care")
BIRTH_DATE = "1984-06-02"
PUBLIC = "https://care.example"
_ANSWER_KEY = re.compile(r'name="answer_key" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def cert() -> Iterator[Certificate]:
    with self_signed() as certificate:
        yield certificate


@pytest.fixture(scope="module")
def patient_app(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    # requested for its side effect: the episode worker runs
    api_worker: None,  # noqa: ARG001
) -> FastAPI:
    return create_app(
        ApiDeps(client=api_env.client, pool=api_pool, settings=api_settings),
        WorkbenchSettings(),
        PatientPageSettings(misses_allowed=4),
    )


@pytest.fixture
async def phone(patient_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The patient's phone browser, from its own address (rate limits are per address)."""
    address = f"phone-{uuid.uuid4().hex[:8]}"
    transport = httpx.ASGITransport(app=patient_app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield client


async def started(client: httpx.AsyncClient, env: WorkflowEnvironment, **contact: Any) -> str:
    body = bodies.episode()
    body["patient"]["birth_date"] = BIRTH_DATE
    body["contact"] = {"email": True, "email_address": "patient@example.org", **contact}
    # No quiet hours: the channel below runs on the real clock (as the page does).
    body["policy"] = {"messaging": {"quiet_hours_start": 0, "quiet_hours_end": 0}}
    answer = await client.post("/v1/episodes", json=body, headers=CLINIC)
    assert answer.status_code == 201, answer.text
    episode_id = str(body["episode_id"])
    assessed = await client.post(
        f"/v1/episodes/{episode_id}/assessment", json=bodies.assessment(), headers=CARE
    )
    assert assessed.status_code == 200, assessed.text
    await env.sleep(timedelta(hours=1))
    return episode_id


async def issued(pool: asyncpg.Pool, episode_id: str, **policy: Any) -> str:
    token = await PostgresLinks(pool).issue(
        message_id=f"test-{episode_id}-{datetime.now(UTC).timestamp()}",
        episode_id=episode_id,
        instrument=Instrument.PHQ9,
        policy=MessagingPolicy(**policy),
        now=datetime.now(UTC),
    )
    assert token is not None
    return token


async def through_birth_date(phone: httpx.AsyncClient, token: str) -> str:
    """Open the link, give the right date of birth; the questionnaire page's HTML."""
    first = await phone.get(f"/p/{token}")
    assert first.status_code == 200 and "date of birth" in first.text
    csrf = _CSRF.search(first.text)
    assert csrf is not None
    answer = await phone.post(
        f"/p/{token}/birth-date", data={"csrf_token": csrf.group(1), "birth_date": BIRTH_DATE}
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def answers(html: str, items: Sequence[int | None], prefix: str = "phq9") -> dict[str, str]:
    key = _ANSWER_KEY.search(html)
    assert key is not None
    form = {"answer_key": key.group(1)}
    for index, value in enumerate(items):
        form[f"{prefix}.items.{index}"] = "" if value is None else str(value)
    return form


async def patient_rows(pool: asyncpg.Pool, episode_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT review_id, phq9_total, reasons FROM reviews "
        "WHERE episode_id = $1 AND kind = 'patient_measure'",
        episode_id,
    )
    return [dict(r) for r in rows]


async def test_the_review_message_carries_a_link_that_records_the_patients_phq9(
    phone: httpx.AsyncClient,
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    cert: Certificate,
) -> None:
    episode_id = await started(phone, api_env)
    await api_env.sleep(timedelta(days=7, hours=1))  # the review falls due: questionnaire
    row = None
    for _ in range(200):
        row = await api_pool.fetchrow(
            "SELECT * FROM notification_outbox WHERE episode_id = $1 AND recipient_role = "
            "'patient' AND params ->> 'questionnaire' = 'phq9'",
            episode_id,
        )
        if row is not None:
            break
        await api_env.sleep(timedelta(minutes=5))
    assert row is not None, "the engine never asked for the questionnaire"
    assert json.loads(row["params"]) == {"questionnaire": "phq9"}  # nothing else, no token
    message = OutboxMessage(
        message_id=row["message_id"],
        episode_id=episode_id,
        program_id=row["program_id"],
        channel="patient",
        template=row["template"],
        recipient_role="patient",
        urgency=row["urgency"],
        params=json.loads(row["params"]),
        attempt=1,
    )
    with smtp_server(cert) as (mailbox, port):
        email = EmailSender(
            SmtpTarget.from_url(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}"),
            "care@clinic.example",
            tls_context=cert.client_context(),
            timeout_s=5,
        )
        senders: dict[MessagingChannel, Sender] = {MessagingChannel.EMAIL: email}
        channel = PatientChannel(api_pool, senders, public_url=PUBLIC)
        await channel.deliver(message)
    body = mailbox.accepted[0].get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"https://care\.example/p/([A-Za-z0-9_-]+)", body.decode())
    assert found, body
    token = found.group(1)
    assert len(token) >= 22  # >= 128 bits of secrets.token_urlsafe
    stored = await api_pool.fetchrow(
        "SELECT * FROM questionnaire_links WHERE message_id = $1", row["message_id"]
    )
    assert stored is not None
    assert stored["token_hash"] == hashlib.sha256(token.encode()).digest()
    assert token.encode() not in json.dumps({k: str(v) for k, v in dict(stored).items()}).encode()

    page = await phone.get(f"/p/{token}")
    assert page.status_code == 200
    assert "Synthetic" not in page.text and episode_id not in page.text  # no patient data
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    wrong = await phone.post(
        f"/p/{token}/birth-date",
        data={"csrf_token": _CSRF.search(page.text).group(1), "birth_date": "1984-06-03"},  # type: ignore[union-attr]
    )
    assert wrong.status_code == 422 and "does not match" in wrong.text
    html = await through_birth_date(phone, token)
    assert "Thoughts that you would be better off dead" in html

    incomplete = await phone.post(f"/p/{token}", data=answers(html, [1] * 8 + [None]))
    assert incomplete.status_code == 422
    assert 'id="f-phq9-items-8-error"' in incomplete.text  # the error beside item 9
    out_of_range = await phone.post(f"/p/{token}", data=answers(html, [4] + [1] * 8))
    assert out_of_range.status_code == 422 and 'id="f-phq9-items-0-error"' in out_of_range.text
    assert await patient_rows(api_pool, episode_id) == []  # nothing recorded

    # The reassessment asks the PHQ-9, then the GAD-7, on the same link and answer key.
    gad7 = await phone.post(f"/p/{token}", data=answers(html, [2] * 8 + [0]))
    assert gad7.status_code == 200 and "Feeling nervous, anxious, or on edge" in gad7.text
    assert "Please reach out now" not in gad7.text
    missing = await phone.post(f"/p/{token}", data=answers(gad7.text, [1] * 6, "gad7"))
    assert missing.status_code == 422 and 'id="f-gad7-items-6-error"' in missing.text
    done = await phone.post(f"/p/{token}", data=answers(gad7.text, [1] * 7, "gad7"))
    assert done.status_code == 200 and "Your answers were sent" in done.text
    link_id = stored["link_id"]
    entries = await timeline_until(
        phone,
        episode_id,
        CARE,
        lambda es: sum(e.get("review_kind") == "patient_measure" for e in es) == 2,
    )
    phq9, gad7_row = (e for e in entries if e.get("review_kind") == "patient_measure")
    assert phq9["phq9_total"] == 16 and phq9["actor"] == "patient"
    assert phq9["review_id"] == f"link-{link_id}"  # the submission ID is the link's
    assert gad7_row["gad7_total"] == 7 and gad7_row.get("phq9_total") is None
    assert gad7_row["review_id"] == f"link-{link_id}-1-gad7"

    again = await phone.get(f"/p/{token}")  # single use
    assert again.status_code == 404

    # A review without its own scores takes the patient's latest.
    review = bodies.review()
    del review["phq9"]
    answered = await phone.post(f"/v1/episodes/{episode_id}/reviews", json=review, headers=CARE)
    assert answered.status_code == 200, answered.text
    assert "phq9_patient_reported" in answered.json()["reasons"]
    entries = await timeline_until(
        phone,
        episode_id,
        CARE,
        lambda es: any(e.get("review_id") == review["review_id"] for e in es),
    )
    used = next(e for e in entries if e.get("review_id") == review["review_id"])
    assert used["phq9_total"] == 16


async def test_item_9_from_the_patient_shows_crisis_resources_and_alerts_the_care_team(
    phone: httpx.AsyncClient, api_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> None:
    episode_id = await started(phone, api_env)
    token = await issued(api_pool, episode_id)
    html = await through_birth_date(phone, token)
    done = await phone.post(f"/p/{token}", data=answers(html, [0] * 8 + [1]))
    assert done.status_code == 200
    assert "Feeling nervous, anxious, or on edge" in done.text  # the GAD-7 follows, but
    assert done.text.index("Please reach out now") < done.text.index("Feeling nervous")
    assert "988" in done.text and "Suicide &amp; Crisis Lifeline" in done.text
    assert "911" in done.text and "emergency department" in done.text
    assert 'role="alert"' in done.text
    state = (await phone.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    assert "risk" in state["flags"]
    alert = None
    for _ in range(200):
        alert = await api_pool.fetchrow(
            "SELECT urgency, params FROM notification_outbox WHERE episode_id = $1 "
            "AND template = 'safety_alert' AND recipient_role = 'care_team'",
            episode_id,
        )
        if alert is not None:
            break
        await api_env.sleep(timedelta(seconds=1))
    assert alert is not None and alert["urgency"] == "urgent"
    assert json.loads(alert["params"])["reason"] == "phq9_item9_positive"


async def test_links_that_do_not_open_show_one_plain_page(
    phone: httpx.AsyncClient, api_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> None:
    episode_id = await started(phone, api_env)
    unknown = await phone.get("/p/not-a-real-token-at-all-xxxxxxxx")
    expired_token = await issued(api_pool, episode_id)
    await api_pool.execute(
        "UPDATE questionnaire_links SET expires_at = now() - interval '1 minute' "
        "WHERE token_hash = $1",
        hashlib.sha256(expired_token.encode()).digest(),
    )
    expired = await phone.get(f"/p/{expired_token}")
    locked_token = await issued(api_pool, episode_id, questionnaire_wrong_birth_dates=2)
    page = await phone.get(f"/p/{locked_token}")
    csrf = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    first = await phone.post(
        f"/p/{locked_token}/birth-date", data={"csrf_token": csrf, "birth_date": "2000-01-01"}
    )
    assert first.status_code == 422
    second = await phone.post(
        f"/p/{locked_token}/birth-date", data={"csrf_token": csrf, "birth_date": "2000-01-02"}
    )
    right_after_lock = await phone.post(
        f"/p/{locked_token}/birth-date", data={"csrf_token": csrf, "birth_date": BIRTH_DATE}
    )
    pages = [unknown, expired, second, right_after_lock]
    assert [p.status_code for p in pages] == [404, 404, 404, 404]
    assert len({p.text for p in pages}) == 1  # the same words whatever the reason


async def test_guessing_tokens_is_refused_per_address(patient_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=patient_app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as guesser:
        statuses = [(await guesser.get(f"/p/guess-{n}")).status_code for n in range(6)]
    assert statuses == [404, 404, 404, 404, 429, 429]
    other = httpx.ASGITransport(app=patient_app, client=("203.0.113.10", 40000))
    async with httpx.AsyncClient(transport=other, base_url=PUBLIC) as neighbour:
        assert (await neighbour.get("/p/guess-0")).status_code == 404


async def test_answers_need_the_key_given_after_the_birth_date(
    phone: httpx.AsyncClient, api_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> None:
    episode_id = await started(phone, api_env)
    token = await issued(api_pool, episode_id)
    skipped = await phone.post(
        f"/p/{token}", data={"answer_key": "made-up", **{f"phq9.items.{i}": "1" for i in range(9)}}
    )
    assert skipped.status_code == 403 and "date of birth" in skipped.text
    assert await patient_rows(api_pool, episode_id) == []


async def test_without_the_birth_date_check_the_questions_come_first(
    phone: httpx.AsyncClient, api_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> None:
    episode_id = await started(phone, api_env)
    token = await issued(api_pool, episode_id, questionnaire_asks_birth_date=False)
    page = await phone.get(f"/p/{token}")
    assert page.status_code == 200 and "Little interest or pleasure" in page.text
    done = await phone.post(f"/p/{token}", data=answers(page.text, [1] * 9))
    assert done.status_code == 200
    for _ in range(200):
        if await patient_rows(api_pool, episode_id):
            break
        await api_env.sleep(timedelta(seconds=1))
    rows = await patient_rows(api_pool, episode_id)
    assert [r["phq9_total"] for r in rows] == [9]


async def test_the_update_is_idempotent_per_link(
    patient_app: FastAPI, phone: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await started(phone, api_env)
    engine = patient_app.state.services.episodes
    sent = PatientMeasureSubmission(
        submission_id="link-abc123", instrument="phq9", phq9=Phq9(items=[1] * 9)
    )
    first = await engine.submit(episode_id, Action.SUBMIT_PATIENT_MEASURE, sent)
    again = await engine.submit(episode_id, Action.SUBMIT_PATIENT_MEASURE, sent)
    assert not first.duplicate and again.duplicate
    other = sent.model_copy(update={"phq9": Phq9(items=[0] * 9)})
    with pytest.raises(ApiProblem) as refused:
        await engine.submit(episode_id, Action.SUBMIT_PATIENT_MEASURE, other)
    assert refused.value.status == 409


def test_access_log_lines_never_carry_a_link_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/p/SECRETtoken_-123/birth-date", "1.1", 200),
        None,
    )
    assert RedactLinkTokens().filter(record)
    assert "SECRETtoken" not in record.getMessage()
    assert "/p/…/birth-date" in record.getMessage()
