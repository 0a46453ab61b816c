"""Over a real socket (uvicorn on 127.0.0.1), and the `carepath` CLI against that server.

CliRunner is synchronous, so each invocation runs in a thread while the event loop
keeps serving the API and the worker.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from api.cli import app
from tests.api import bodies
from tests.api.conftest import bearer


async def carepath(url: str, token: str, *args: str) -> Result:
    runner = CliRunner()
    env = {"CAREPATH_API_URL": url, "CAREPATH_API_TOKEN": token, "COLUMNS": "200"}
    return await asyncio.to_thread(lambda: runner.invoke(app, list(args), env=env))


async def test_the_api_over_a_real_socket(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as http:
        assert (await http.get("/healthz")).json()["status"] == "ok"
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ok"
        assert (ready.json()["temporal"], ready.json()["postgres"]) == (True, True)
        document = (await http.get("/openapi.json")).json()
        assert "/v1/episodes/{episode_id}/reviews" in document["paths"]
        body = bodies.episode()
        started = await http.post("/v1/episodes", json=body, headers=bearer("tok-clinic"))
        assert started.status_code == 201
        unauthenticated = await http.get(f"/v1/episodes/{body['episode_id']}")
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["content-type"] == "application/problem+json"


async def test_cli_start_show_review_census(
    api_url: str, api_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    episode = bodies.episode()
    episode_file = tmp_path / "episode.json"
    episode_file.write_text(json.dumps(episode))
    episode_id = str(episode["episode_id"])

    started = await carepath(api_url, "tok-clinic", "start", "--file", str(episode_file))
    assert started.exit_code == 0, started.output
    assert episode_id in started.output
    again = await carepath(api_url, "tok-clinic", "start", "--file", str(episode_file))
    assert again.exit_code == 0, again.output  # same file twice: same episode

    async with httpx.AsyncClient(base_url=api_url, headers=bearer("tok-care")) as http:
        assessed = await http.post(
            f"/v1/episodes/{episode_id}/assessment", json=bodies.assessment()
        )
        assert assessed.status_code == 200
    await api_env.sleep(timedelta(hours=1))

    shown = await carepath(api_url, "tok-care", "show", episode_id)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["phase"] == "in_treatment"

    review_file = tmp_path / "review.json"
    review_file.write_text(json.dumps(bodies.review()))
    reviewed = await carepath(api_url, "tok-care", "review", episode_id, "--file", str(review_file))
    assert reviewed.exit_code == 0, reviewed.output
    assert "phase in_treatment" in reviewed.output

    census = await carepath(api_url, "tok-care", "census", "--program", "iop-adult")
    assert census.exit_code == 0, census.output
    assert episode_id in census.output and "in_treatment" in census.output


async def test_cli_reports_problems_and_exits_non_zero(api_url: str, tmp_path: Path) -> None:
    denied = await carepath(api_url, "tok-care", "census", "--program", "php-teen")
    assert denied.exit_code == 1
    assert "403" in denied.output

    review_file = tmp_path / "review.json"
    review_file.write_text(json.dumps(bodies.review()))
    unknown = await carepath(
        api_url, "tok-care", "review", "ep-nowhere", "--file", str(review_file)
    )
    assert unknown.exit_code == 1
    assert "404" in unknown.output

    unreachable = await carepath("http://127.0.0.1:9", "tok-care", "show", "ep-1")
    assert unreachable.exit_code == 3
