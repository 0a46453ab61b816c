"""GET /v1/programs/{id}/outcomes: JSON, CSV, PDF by Accept; scope, periods, 406."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from api.reports.pdf import pdf_unavailable_reason
from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from store.postgres import PostgresRecordStore
from tests.api.conftest import PROGRAM, bearer
from tests.store.store_builders import batch, move, review, snapshot

P = CarePhase
E = Event
# A period years before anything the other API tests start (they run on today's clock).
PERIOD = {"from": "2020-01-01", "to": "2020-03-31"}
URL = f"/v1/programs/{PROGRAM}/outcomes"


def d(month: int, day: int) -> datetime:
    return datetime(2020, month, day, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
async def seeded(api_pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(api_pool)
    ep = snapshot("outcomes-api-1", program_id=PROGRAM, started_at=d(1, 6), updated_at=d(2, 19))
    await store.apply(
        batch(
            9_000_001,
            ep,
            transitions=[
                move(P.REFERRAL, P.ASSESSMENT, E.REFERRAL_RECEIVED, d(1, 6)),
                move(P.AUTHORIZATION, P.IN_TREATMENT, E.AUTH_APPROVED, d(1, 8), LevelOfCare.IOP),
                move(P.IN_TREATMENT, P.AFTERCARE, E.DISCHARGE, d(2, 19)),
            ],
            reviews=[review("r1", d(1, 6), 20), review("r2", d(2, 19), 4)],
        )
    )


@pytest.mark.usefixtures("seeded")
async def test_json_report(api: httpx.AsyncClient) -> None:
    r = await api.get(URL, params=PERIOD, headers=bearer("tok-admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["program_id"] == PROGRAM
    assert body["episodes_started"]["value"] == 1
    assert body["endings"]["counts"]["completed"] == 1
    assert body["remission_at_discharge"]["numerator"] == 1
    assert body["length_of_stay"]["levels"]["iop"]["median_days"] == 42.0
    assert body["iet_initiation"] is None  # not a substance-use program
    assert all(body[name]["method"] for name in ("episodes_started", "fuh_7_days"))
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.usefixtures("seeded")
async def test_csv_report(api: httpx.AsyncClient) -> None:
    r = await api.get(URL, params=PERIOD, headers={**bearer("tok-ur"), "Accept": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    cell = {(x["figure"], x["group"], x["statistic"]): x["value"] for x in rows}
    assert cell[("episodes_started", "", "count")] == "1"
    assert cell[("remission_at_discharge", "", "rate")] == "1.0"
    assert cell[("length_of_stay", "iop", "median_days")] == "42.0"
    assert all(x["method"] for x in rows)


@pytest.mark.usefixtures("seeded")
async def test_pdf_report(api: httpx.AsyncClient) -> None:
    if (reason := pdf_unavailable_reason()) is not None:
        pytest.skip(reason)
    r = await api.get(
        URL, params=PERIOD, headers={**bearer("tok-admin"), "Accept": "application/pdf"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    assert "attachment" in r.headers["content-disposition"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/html", 406),
        ("image/png", 406),
        ("text/*;q=0.5, application/xml", 200),  # text/* -> CSV
        ("*/*", 200),
        ("application/pdf;q=0, application/json", 200),
    ],
)
@pytest.mark.usefixtures("seeded")
async def test_accept(api: httpx.AsyncClient, accept: str, expected: int) -> None:
    r = await api.get(URL, params=PERIOD, headers={**bearer("tok-admin"), "Accept": accept})
    assert r.status_code == expected, r.text
    if expected == 406:
        assert r.json()["type"].endswith("not-acceptable")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": "2020-03-01", "to": "2020-02-01"}, 422),  # reversed
        ({"from": "2020-01-01", "to": "2021-01-01"}, 422),  # 367 days
        ({"from": "2020-01-01", "to": "2020-12-31"}, 200),  # 366 days (a leap year)
        ({"from": "2020-01-01"}, 422),
        ({"from": "yesterday", "to": "2020-01-02"}, 422),
    ],
)
@pytest.mark.usefixtures("seeded")
async def test_period_checks(api: httpx.AsyncClient, params: dict[str, str], status: int) -> None:
    r = await api.get(URL, params=params, headers=bearer("tok-admin"))
    assert r.status_code == status, r.text


async def test_scoped_to_the_callers_programs(api: httpx.AsyncClient) -> None:
    other = await api.get(
        "/v1/programs/php-teen/outcomes", params=PERIOD, headers=bearer("tok-admin")
    )
    assert other.status_code == 403
    care = await api.get(URL, params=PERIOD, headers=bearer("tok-care"))
    assert care.status_code == 403  # care-team keys read episodes, not program reports
    nobody = await api.get(URL, params=PERIOD)
    assert nobody.status_code == 401
