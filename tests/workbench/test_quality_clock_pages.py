"""Today lists the open quality clocks (FUH, IET) of the person's programs with days left,
server-rendered like the other lists; and in a real browser the list reads and passes axe."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, expect
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from api.workbench.accounts import PersonRole
from tests.api.conftest import OTHER_PROGRAM, PROGRAM
from tests.serving import running_server
from tests.workbench.browser import LAPTOP, chromium, needs_chromium
from tests.workbench.browser import serious_accessibility_violations as axe
from tests.workbench.conftest import PASSWORD, add_account, make_app, person, sign_in
from tests.workbench.quality_clock_rows import discharged_from_inpatient


def clock_section(html: str) -> str:
    return html.split('id="list-quality-clocks"', 1)[1].split("</section>", 1)[0]


async def test_today_lists_open_follow_up_windows_with_days_left(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    mine, _ = await discharged_from_inpatient(api_pool, PROGRAM, days_ago=3)
    other, _ = await discharged_from_inpatient(api_pool, OTHER_PROGRAM, days_ago=3)
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    assert (await sign_in(browser_client, who)).status_code == 303
    lists = await browser_client.get("/app/today/lists")
    assert lists.status_code == 200
    section = clock_section(lists.text)
    rows = [r for r in section.split("<tr ")[1:] if mine in r]
    assert len(rows) == 2
    fuh7 = next(r for r in rows if 'data-clock="fuh_7"' in r)
    assert f'href="/app/episodes/{mine}"' in fuh7
    assert "<span data-days-left>4</span> days left" in fuh7  # day 3 of 7
    fuh30 = next(r for r in rows if 'data-clock="fuh_30"' in r)
    assert "<span data-days-left>27</span> days left" in fuh30
    assert other not in section
    await api_pool.execute("UPDATE quality_clocks SET status = 'met' WHERE episode_id = $1", mine)
    assert mine not in clock_section((await browser_client.get("/app/today/lists")).text)


@pytest.fixture(scope="module")
async def served(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    api_worker: None,  # noqa: ARG001
) -> AsyncIterator[tuple[FastAPI, str]]:
    app = make_app(api_env, api_pool, api_settings)
    async with running_server(app) as url:
        yield app, url


@needs_chromium
async def test_a_care_team_member_sees_a_closing_window_on_today_in_a_browser(
    served: tuple[FastAPI, str], api_pool: asyncpg.Pool
) -> None:
    app, url = served
    episode_id, _ = await discharged_from_inpatient(api_pool, PROGRAM, days_ago=6)
    who = await add_account(app, person(PersonRole.CARE_TEAM))
    async with chromium() as browser:
        await _check_today(browser, url, who.username, episode_id)


async def _check_today(browser: Browser, url: str, username: str, episode_id: str) -> None:
    context = await browser.new_context(viewport=LAPTOP, bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{url}/app/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{url}/app/")
    section = page.locator("#list-quality-clocks")
    await expect(section.get_by_role("heading")).to_contain_text("Follow-up windows open")
    row = section.locator("tr", has=page.locator(f'a[href="/app/episodes/{episode_id}"]'))
    fuh7 = row.filter(has_text="FUH 7-day follow-up")
    await expect(fuh7).to_contain_text("1 days left")
    await expect(fuh7.locator(".badge")).to_have_text("closing")
    assert list(await axe(page)) == []
    await context.close()
