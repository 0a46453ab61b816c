"""The workbench in a real browser (Debian chromium through Playwright), as a clinician
uses it: sign in, watch Today fill and refresh itself, open an episode, submit a review
that raises the risk flag and find it on Today, be refused a `continue` without the
override and succeed with it, sign out, and be logged out after idle time. Every page is
checked with axe-core (no serious or critical violation) at laptop and tablet widths,
and the page's own CSP must not block anything it needs.

Screenshots go to $CAREPATH_SCREENSHOT_DIR when set (docs/workbench/ holds the committed
ones: `CAREPATH_SCREENSHOT_DIR=docs/workbench make test PYTEST_ARGS=tests/workbench`),
else to a temporary folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, ConsoleMessage, Page, ViewportSize, expect
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from api.workbench.accounts import PersonRole
from tests.api import bodies
from tests.api.conftest import bearer
from tests.serving import running_server
from tests.workbench.browser import (
    LAPTOP,
    TABLET,
    chromium,
    needs_chromium,
    serious_accessibility_violations,
)
from tests.workbench.conftest import PASSWORD, Person, add_account, make_app, person

pytestmark = needs_chromium

CLINIC = bearer("tok-clinic")
CARE_KEY = bearer("tok-care")


@pytest.fixture(scope="module")
async def served(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    # requested for its side effect: the episode worker runs
    api_worker: None,  # noqa: ARG001
) -> AsyncIterator[tuple[FastAPI, str]]:
    """The app on a real socket; Today refreshes every second here."""
    app = make_app(api_env, api_pool, api_settings, refresh_seconds=1)
    async with running_server(app) as url:
        yield app, url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as found:
        yield found


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    configured = os.environ.get("CAREPATH_SCREENSHOT_DIR")
    folder = Path(configured) if configured else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def enrolled(url: str, env: WorkflowEnvironment) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        body = bodies.episode()
        assert (await api.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
        episode_id = str(body["episode_id"])
        answer = await api.post(
            f"/v1/episodes/{episode_id}/assessment", json=bodies.assessment(), headers=CARE_KEY
        )
        assert answer.status_code == 200, answer.text
        await env.sleep(timedelta(hours=1))
        return episode_id


async def risky_review_by_api(url: str, episode_id: str) -> None:
    review = {**bodies.review(), "phq9": {"items": [1] * 9}}
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        answer = await api.post(f"/v1/episodes/{episode_id}/reviews", json=review, headers=CARE_KEY)
        assert answer.status_code == 200, answer.text


def csp_watch(page: Page) -> list[str]:
    """Script errors, and anything the page's CSP refused; the test asserts none.

    (A refused form's own 422/409 status is logged by chromium as a failed load too: those
    are the answers under test, not faults.)
    """
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        text = message.text
        if message.type == "error" and not re.search(r"status of 4(09|22)\b", text):
            errors.append(text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def sign_in_by_keyboard(page: Page, url: str, who: Person) -> None:
    await page.goto(f"{url}/app/login")
    await expect(page.get_by_label("Username")).to_be_focused()  # autofocus
    await page.keyboard.type(who.username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{url}/app/")


async def test_a_clinicians_day(
    served: tuple[FastAPI, str], browser: Browser, api_env: WorkflowEnvironment, shots: Path
) -> None:
    app, url = served
    episode_id = await enrolled(url, api_env)
    other_id = await enrolled(url, api_env)
    who = await add_account(app, person(PersonRole.CARE_TEAM))
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    errors = csp_watch(page)

    await sign_in_by_keyboard(page, url, who)
    await expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()
    await expect(page.locator("[data-list=risk]")).to_be_visible()
    await page.screenshot(path=str(shots / "today-laptop.png"), full_page=True)

    # The lists refresh by themselves: a risk raised elsewhere appears without a reload.
    await page.evaluate("window.__sameDocument = true")
    await risky_review_by_api(url, other_id)
    await expect(page.locator("[data-list=risk]").get_by_role("link", name=other_id)).to_be_visible(
        timeout=30_000
    )
    assert await page.evaluate("window.__sameDocument === true")

    # Open the episode and submit a review whose PHQ-9 item 9 is above zero.
    await page.goto(f"{url}/app/episodes/{episode_id}")
    await expect(page.locator("[data-phase]").first).to_have_text("in treatment")
    await page.get_by_role("link", name="Weekly review").click()
    await page.get_by_label("Hours attended").fill("10")
    await page.get_by_label("Units attended (sessions or days, as authorized)").fill("3")
    phq9 = page.locator("#f-phq9-items")
    for item in range(1, 10):
        group = phq9.get_by_role("group", name=re.compile(rf"^{item}\. "))
        await group.get_by_label("Several days").check()
    await page.screenshot(path=str(shots / "review-form-laptop.png"), full_page=False)
    await page.get_by_role("button", name="Submit weekly review").click()
    await expect(page.get_by_role("heading", name="Weekly review recorded")).to_be_visible()
    await expect(page.locator("[data-decision]")).to_contain_text("risk flag")

    # Today shows it among the open risk flags.
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    risk = page.locator("[data-list=risk]")
    await expect(risk.get_by_role("link", name=episode_id)).to_be_visible(timeout=30_000)
    await risk.get_by_role("link", name=episode_id).click()
    await page.wait_for_url(f"{url}/app/episodes/{episode_id}")
    await expect(page.locator(".page-head")).to_contain_text("risk flag")
    await expect(page.locator("img.chart")).to_be_visible()
    await page.screenshot(path=str(shots / "episode-laptop.png"), full_page=True)

    # `continue` without the override is refused beside the field; with it, accepted.
    await page.get_by_role("link", name="Clinician decision").click()
    await expect(page.locator(".recommendation")).to_contain_text("step up")
    await page.get_by_label("continue", exact=True).check()
    await page.get_by_role("button", name="Submit clinician decision").click()
    error = page.locator("#f-override_reason-error")
    await expect(error).to_contain_text("override_reason")
    await expect(page.locator("#error-summary")).to_be_focused()
    await page.screenshot(path=str(shots / "decision-refused-laptop.png"), full_page=True)
    await page.get_by_label(re.compile("^Safety assessment result")).fill(
        "C-SSRS screen negative today; safety plan reviewed with the patient"
    )
    await page.get_by_role("button", name="Submit clinician decision").click()
    await expect(page.get_by_role("heading", name="Clinician decision recorded")).to_be_visible()

    # Sign out: back to sign-in, and the pages are closed to this browser.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await page.goto(f"{url}/app/episodes/{episode_id}")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert errors == [], errors
    await context.close()


@pytest.mark.usefixtures("api_worker")
async def test_an_idle_page_logs_itself_off(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    browser: Browser,
) -> None:
    app = make_app(api_env, api_pool, api_settings, idle_timeout_seconds=3, refresh_seconds=1)
    who = await add_account(app, person(PersonRole.CARE_TEAM))
    async with running_server(app) as url:
        context = await browser.new_context(viewport=TABLET)
        page = await context.new_page()
        await sign_in_by_keyboard(page, url, who)
        await expect(page.locator("[data-list=risk]")).to_be_visible()
        # Today keeps refreshing in the background; that is not activity. Bounded wait,
        # generous: at load average 20 the sign-in and its checks took over 30 s.
        await page.wait_for_url(re.compile(r"/app/login\?.*reason=idle"), timeout=90_000)
        await expect(page.get_by_text("signed out after a period without activity")).to_be_visible()
        await expect(page.locator("[data-list=risk]")).to_have_count(0)
        await context.close()
    async with api_pool.acquire() as conn:
        last = await conn.fetchval(
            "SELECT event FROM web_auth_events WHERE username = $1 ORDER BY id DESC LIMIT 1",
            who.username,
        )
    assert last == "idle_timeout"


@pytest.mark.parametrize(("viewport", "width_name"), [(LAPTOP, "laptop"), (TABLET, "tablet")])
async def test_every_page_passes_axe_at_laptop_and_tablet_width(
    served: tuple[FastAPI, str],
    browser: Browser,
    api_env: WorkflowEnvironment,
    shots: Path,
    viewport: ViewportSize,
    width_name: str,
) -> None:
    app, url = served
    episode_id = await enrolled(url, api_env)
    await risky_review_by_api(url, episode_id)
    care = await add_account(app, person(PersonRole.CARE_TEAM))
    reviewer = await add_account(app, person(PersonRole.UTILIZATION_REVIEW))
    context = await browser.new_context(viewport=viewport, bypass_csp=True)  # to add axe
    page = await context.new_page()
    found: dict[str, list[object]] = {}

    async def check(name: str) -> None:
        await page.wait_for_load_state("load")
        found[name] = list(await serious_accessibility_violations(page))
        await page.screenshot(path=str(shots / f"{name}-{width_name}.png"), full_page=True)

    await page.goto(f"{url}/app/login")
    await check("login")
    await sign_in_by_keyboard(page, url, care)
    await check("today")
    await page.goto(f"{url}/app/census")
    await check("census")
    await page.goto(f"{url}/app/episodes/{episode_id}")
    await check("episode")
    for form in ("review", "decision", "event"):
        await page.goto(f"{url}/app/episodes/{episode_id}/{form}")
        await check(f"form-{form}")
    await page.goto(f"{url}/app/episodes/{episode_id}/review")
    await page.get_by_role("button", name="Submit weekly review").click()
    await expect(page.locator("#error-summary")).to_be_visible()
    await check("form-review-errors")
    await page.get_by_role("button", name="Sign out").click()
    await sign_in_by_keyboard(page, url, reviewer)
    await page.goto(f"{url}/app/utilization-review")
    await check("utilization-review")
    for form in ("coverage", "authorization"):
        await page.goto(f"{url}/app/episodes/{episode_id}/{form}")
        await check(f"form-{form}")
    await context.close()
    assert {name: v for name, v in found.items() if v} == {}


async def test_the_accessibility_check_does_catch_a_violation(browser: Browser) -> None:
    """The axe check above can fail: an unlabelled input and low-contrast text are caught."""
    page = await browser.new_page()
    await page.set_content(
        '<html lang="en"><head><title>t</title></head><body><main>'
        '<input type="text"><p style="color:#bbb;background:#fff">faint</p></main></body></html>'
    )
    found = {v["id"] for v in await serious_accessibility_violations(page)}
    assert {"label", "color-contrast"} <= found
    await page.close()
