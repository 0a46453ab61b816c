"""The patient's questionnaire page in a real browser (Debian chromium through Playwright)
on a phone-sized screen: by keyboard and by tapping, axe-core clean on every step (date
of birth, questions, errors beside the items, confirmation with crisis resources), large
targets, and the page's own CSP blocking nothing it needs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, ConsoleMessage, Page, ViewportSize, expect
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from api.workbench.settings import WorkbenchSettings
from rules.messaging import MessagingPolicy
from store.channels.links import Instrument, PostgresLinks
from tests.api import bodies
from tests.api.conftest import bearer
from tests.serving import running_server
from tests.workbench.browser import chromium, needs_chromium, serious_accessibility_violations

pytestmark = needs_chromium

CLINIC = bearer("tok-clinic")
CARE = bearer("tok-care")
PHONE: ViewportSize = {"width": 390, "height": 844}
BIRTH_DATE = "1990-03-27"


@pytest.fixture(scope="module")
async def served(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    # requested for its side effect: the episode worker runs
    api_worker: None,  # noqa: ARG001
) -> AsyncIterator[tuple[FastAPI, str]]:
    app = create_app(
        ApiDeps(client=api_env.client, pool=api_pool, settings=api_settings), WorkbenchSettings()
    )
    async with running_server(app) as url:
        yield app, url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as found:
        yield found


async def link_for_enrolled_patient(url: str, env: WorkflowEnvironment, pool: asyncpg.Pool) -> str:
    body = bodies.episode()
    body["patient"]["birth_date"] = BIRTH_DATE
    async with httpx.AsyncClient(base_url=url) as api:
        assert (await api.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
        episode_id = str(body["episode_id"])
        answer = await api.post(
            f"/v1/episodes/{episode_id}/assessment", json=bodies.assessment(), headers=CARE
        )
        assert answer.status_code == 200, answer.text
        await env.sleep(timedelta(hours=1))
    token = await PostgresLinks(pool).issue(
        message_id=f"browser-{episode_id}",
        episode_id=episode_id,
        instrument=Instrument.PHQ9,
        policy=MessagingPolicy(),
        now=datetime.now(UTC),
    )
    assert token is not None
    return f"{url}/p/{token}"


async def axe_clean(page: Page, step: str) -> None:
    violations = await serious_accessibility_violations(page)
    assert violations == [], f"{step}: {violations}"


async def answer_item(page: Page, number: int, choice: str) -> None:
    group = page.get_by_role("group", name=re.compile(rf"^{number}\. "))
    await group.get_by_role("radio", name=choice, exact=True).check()


async def test_a_patient_answers_on_a_phone_and_sees_crisis_resources(
    served: tuple[FastAPI, str],
    browser: Browser,
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
) -> None:
    _app, url = served
    link = await link_for_enrolled_patient(url, api_env, api_pool)
    context = await browser.new_context(viewport=PHONE, bypass_csp=True)  # to add axe
    page = await context.new_page()
    blocked: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            blocked.append(message.text)

    page.on("console", on_console)

    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_contain_text("A few questions")
    await axe_clean(page, "date of birth")
    date_field = page.get_by_label("Your date of birth")
    await date_field.fill(BIRTH_DATE)
    await date_field.press("Enter")  # the keyboard submits

    await expect(page.get_by_text("Little interest or pleasure in doing things")).to_be_visible()
    await axe_clean(page, "questions")
    for number in range(1, 9):
        await answer_item(page, number, "Not at all")
    await page.get_by_role("button", name="Send my answers").click()
    # Item 9 left out: shown again, the error beside it, focusable from the summary.
    await expect(page.get_by_text("Please answer question 9.").first).to_be_visible()
    await axe_clean(page, "errors")
    choice = page.locator("label.choice").first
    box = await choice.bounding_box()
    assert box is not None and box["height"] >= 44  # a large target for a thumb

    await answer_item(page, 9, "Several days")
    await page.get_by_role("button", name="Send my answers").focus()
    await page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("988")
    await expect(alert).to_contain_text("911")
    await expect(page.get_by_role("link", name="988")).to_have_attribute("href", "tel:988")
    # The crisis resources first, then the reassessment's GAD-7 on the same link.
    await expect(page.get_by_text("Feeling nervous, anxious, or on edge")).to_be_visible()
    await axe_clean(page, "GAD-7 after an item 9")
    for number in range(1, 8):
        await answer_item(page, number, "Several days")
    await page.get_by_role("button", name="Send my answers").click()
    await expect(page.get_by_role("status")).to_contain_text("sent to your care team")
    await axe_clean(page, "confirmation")

    await page.goto(link)  # used: one plain page
    await expect(page.get_by_role("heading", level=1)).to_have_text("This link is not available")
    await axe_clean(page, "unavailable")
    await context.close()
    assert blocked == []
