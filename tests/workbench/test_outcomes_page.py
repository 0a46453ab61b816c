"""The supervisors' outcomes page: figures, charts and downloads of the program report."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from api.reports.pdf import pdf_unavailable_reason
from api.workbench.accounts import PersonRole
from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from store.postgres import PostgresRecordStore
from tests.api.conftest import PROGRAM
from tests.store.store_builders import batch, move, review, snapshot
from tests.workbench.conftest import add_account, person, sign_in

P = CarePhase
E = Event
QUERY = f"program={PROGRAM}&from=2019-01-01&to=2019-03-31"


def d(month: int, day: int) -> datetime:
    return datetime(2019, month, day, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
async def seeded(api_pool: asyncpg.Pool) -> None:
    ep = snapshot("outcomes-wb-1", program_id=PROGRAM, started_at=d(1, 6), updated_at=d(2, 19))
    await PostgresRecordStore(api_pool).apply(
        batch(
            9_100_001,
            ep,
            transitions=[
                move(P.AUTHORIZATION, P.IN_TREATMENT, E.AUTH_APPROVED, d(1, 8), LevelOfCare.IOP),
                move(P.IN_TREATMENT, P.AFTERCARE, E.WITHDRAWN, d(2, 19)),
            ],
            reviews=[review("r1", d(1, 6), 20), review("r2", d(2, 19), 9)],
        )
    )


@pytest.mark.usefixtures("seeded")
async def test_supervisor_sees_figures_charts_and_downloads(
    wb_app: FastAPI, browser_client: httpx.AsyncClient
) -> None:
    who = await add_account(wb_app, person(PersonRole.SUPERVISOR))
    await sign_in(browser_client, who)
    r = await browser_client.get(f"/app/outcomes?{QUERY}")
    assert r.status_code == 200, r.text
    assert 'aria-current="page">Outcomes' in r.text
    assert (
        'data-measure="response_at_discharge"><td>Response at discharge</td><td>1</td><td>1</td>'
        in r.text
    )
    assert "against advice" in r.text
    chart = await browser_client.get(f"/app/outcomes/rates.svg?{QUERY}")
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert b"<script" not in chart.content
    assert "Response at discharge (n=1)" in chart.text
    csv = await browser_client.get(f"/app/outcomes/report.csv?{QUERY}")
    assert csv.status_code == 200
    assert csv.text.startswith("figure,label,group,statistic,value,method")
    if pdf_unavailable_reason() is None:
        pdf = await browser_client.get(f"/app/outcomes/report.pdf?{QUERY}")
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF-")


@pytest.mark.usefixtures("seeded")
async def test_other_programs_and_bad_periods(
    wb_app: FastAPI, browser_client: httpx.AsyncClient
) -> None:
    who = await add_account(wb_app, person(PersonRole.SUPERVISOR))
    await sign_in(browser_client, who)
    other = await browser_client.get("/app/outcomes?program=php-teen&from=2019-01-01&to=2019-02-01")
    assert other.status_code == 404
    reversed_ = await browser_client.get(
        f"/app/outcomes?program={PROGRAM}&from=2019-03-01&to=2019-01-01"
    )
    assert reversed_.status_code == 422
    assert "before its start" in reversed_.text


async def test_care_team_may_not_open_it(
    wb_app: FastAPI, browser_client: httpx.AsyncClient
) -> None:
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    await sign_in(browser_client, who)
    r = await browser_client.get(f"/app/outcomes?{QUERY}")
    assert r.status_code == 403
    today = await browser_client.get("/app/")
    assert "/app/outcomes" not in today.text
