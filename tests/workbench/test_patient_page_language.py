"""The patient's page in the patient's language when the program provides a translation
(`api/workbench/patient_text.py`), English otherwise.

carepath ships no translation of the instruments, so these tests use a pseudo-translation
in the pseudo-locale `en-XA` (English marked with brackets): it checks the mechanism, and
is no clinical wording."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from api.workbench.patient_page import PatientPageSettings
from api.workbench.patient_text import (
    ENGLISH,
    PatientText,
    PatientTranslations,
    TranslationFile,
)
from api.workbench.settings import WorkbenchSettings
from rules.messaging import MessagingPolicy
from rules.transitions import CarePhase
from schemas.episode import ContactPreferences
from store.channels.contacts import PostgresContacts
from store.channels.links import Instrument, PostgresLinks
from store.postgres import PostgresRecordStore
from tests.store.store_builders import batch, snapshot

PUBLIC = "https://care.example"
BIRTH_DATE = "1984-06-02"
PROGRAM = "prog-a"  # the store builders' program
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ANSWER_KEY = re.compile(r'name="answer_key" value="([^"]+)"')


def pseudo(value: Any) -> Any:
    """English with every string bracketed (placeholders kept): a pseudo-translation."""
    if isinstance(value, str):
        return f"[{value}]"
    if isinstance(value, list | tuple):
        return [pseudo(v) for v in value]
    if isinstance(value, dict):
        return {k: pseudo(v) for k, v in value.items()}
    return value


def pseudo_file(programs: list[str]) -> dict[str, Any]:
    body = pseudo(ENGLISH.model_dump(mode="json"))
    body.update(language="en-XA", source="test pseudo-locale", programs=programs)
    body["phq9"]["heading"] = "[PHQ-9]"
    return dict(body)


def test_a_translation_is_found_by_program_and_language() -> None:
    translations = PatientTranslations.of([TranslationFile.model_validate(pseudo_file([PROGRAM]))])
    assert translations.for_patient(PROGRAM, "en-XA").brand == "[Your care team]"
    assert translations.for_patient(PROGRAM, "EN-xa").language == "en-XA"  # tags ignore case
    assert translations.for_patient("other-program", "en-XA") is ENGLISH
    assert translations.for_patient(PROGRAM, "fr") is ENGLISH
    assert translations.for_patient(PROGRAM, None) is ENGLISH
    everyone = PatientTranslations.of([TranslationFile.model_validate(pseudo_file(["*"]))])
    assert everyone.for_patient("other-program", "en-XA").language == "en-XA"


def test_an_incomplete_translation_is_refused(tmp_path: Path) -> None:
    short = pseudo_file(["*"])
    short["gad7"]["items"] = short["gad7"]["items"][:6]
    no_link = pseudo_file(["*"])
    no_link["crisis_988"] = "[Call or text 988]"
    missing = pseudo_file(["*"])
    del missing["thanks"]
    for body in (short, no_link, missing):
        with pytest.raises(ValidationError):
            TranslationFile.model_validate(body)
    (tmp_path / "en-XA.json").write_text(json.dumps(missing), encoding="utf-8")
    with pytest.raises(ValidationError):
        PatientTranslations.load(tmp_path)
    (tmp_path / "en-XA.json").write_text(json.dumps(pseudo_file(["*"])), encoding="utf-8")
    assert PatientTranslations.load(tmp_path).for_patient(PROGRAM, "en-XA").language == "en-XA"
    assert PatientTranslations.load(None).texts == {}


def test_the_crisis_lines_keep_their_links_and_escape_the_text() -> None:
    text = PatientText.model_validate(
        {**ENGLISH.model_dump(), "crisis_988": "<b>Call</b> {988} & more"}
    )
    line = str(text.crisis_line("988"))
    assert line == '&lt;b&gt;Call&lt;/b&gt; <a href="tel:988"><strong>988</strong></a> &amp; more'


@pytest.fixture(scope="module")
def translated_app(
    api_env: WorkflowEnvironment, api_pool: asyncpg.Pool, api_settings: ApiSettings
) -> FastAPI:
    translations = PatientTranslations.of([TranslationFile.model_validate(pseudo_file([PROGRAM]))])
    return create_app(
        ApiDeps(client=api_env.client, pool=api_pool, settings=api_settings),
        WorkbenchSettings(),
        PatientPageSettings(translations=translations),
    )


@pytest.fixture
async def phone(translated_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=translated_app, client=(f"p-{uuid.uuid4().hex}", 1))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield client


async def link_for(pool: asyncpg.Pool, language: str | None) -> str:
    episode_id = f"lang-{uuid.uuid4().hex[:10]}"
    await PostgresContacts(pool).save_new(
        episode_id,
        ContactPreferences(email=True, email_address="p@example.org", language=language),
        MessagingPolicy(),
        date.fromisoformat(BIRTH_DATE),
    )
    await PostgresRecordStore(pool).apply(
        batch(1, snapshot(episode_id, phase=CarePhase.IN_TREATMENT))
    )
    token = await PostgresLinks(pool).issue(
        message_id=f"lang-{episode_id}",
        episode_id=episode_id,
        instrument=Instrument.PHQ9,
        policy=MessagingPolicy(),
        now=datetime.now(UTC),
    )
    assert token is not None
    return f"/p/{token}"


async def test_the_page_speaks_the_patients_language_when_the_program_has_it(
    phone: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    path = await link_for(api_pool, "en-XA")
    first = await phone.get(path)
    assert first.status_code == 200
    assert '<html lang="en-XA">' in first.text
    assert "[Before the questions, please confirm your date of birth.]" in first.text
    assert "[Your date of birth]" in first.text and "[Continue]" in first.text
    csrf = _CSRF.search(first.text)
    assert csrf is not None
    wrong = await phone.post(
        f"{path}/birth-date", data={"csrf_token": csrf.group(1), "birth_date": "1990-01-01"}
    )
    assert wrong.status_code == 422
    assert "[That date of birth does not match our records.]" in wrong.text
    html = await phone.post(
        f"{path}/birth-date", data={"csrf_token": csrf.group(1), "birth_date": BIRTH_DATE}
    )
    assert html.status_code == 200
    assert "[PHQ-9]" in html.text and "[Little interest or pleasure in doing things]" in html.text
    assert "[Several days]" in html.text and "[Send my answers]" in html.text
    assert "Little interest or pleasure in doing things<" not in html.text  # no English left
    key = _ANSWER_KEY.search(html.text)
    assert key is not None
    missing = await phone.post(path, data={"answer_key": key.group(1)})
    assert missing.status_code == 422
    assert "[Please answer question 1.]" in missing.text
    assert "[Please answer every question.]" in missing.text


async def test_english_without_a_translation_for_the_patients_language(
    phone: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    for language in ("fr-CA", None):
        page = await phone.get(await link_for(api_pool, language))
        assert page.status_code == 200 and '<html lang="en">' in page.text
        assert "Before the questions, please confirm your date of birth." in page.text
        assert "[" not in page.text.split("<main", 1)[-1].split("</main>", 1)[0]
    unknown = await phone.get("/p/not-a-real-token-xxxxxxxxxxxxxxxx")
    assert unknown.status_code == 404 and "This link is not available" in unknown.text
