"""`carepath`: the API from a terminal — start, show, census, review.

Talks HTTP only (never Temporal or PostgreSQL directly), so it works from any machine
with a key: `--url`/`CAREPATH_API_URL` and `--token`/`CAREPATH_API_TOKEN`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="carepath: care episodes from the command line", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@dataclass
class Connection:
    url: str
    token: str | None

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url.rstrip("/"), headers=headers, timeout=30)


@app.callback()
def connection(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(envvar="CAREPATH_API_URL", help="base URL of the API")
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(envvar="CAREPATH_API_TOKEN", help="API key (bearer token)")
    ] = None,
) -> None:
    ctx.obj = Connection(url=url, token=token)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        err.print(f"[red]cannot read {path}: {error}[/red]")
        raise typer.Exit(2) from error


def _answer(response: httpx.Response) -> Any:
    """The JSON body of a success; a problem is printed and the command exits non-zero."""
    body = response.json() if response.content else None
    if response.is_success:
        return body
    if isinstance(body, dict):
        err.print(
            f"[red]{response.status_code} {body.get('title', '')}[/red]: {body.get('detail')}"
        )
        for problem in body.get("errors") or []:
            err.print(f"  {problem.get('field')}: {problem.get('message')}")
        if body.get("allowed_actions") is not None:
            err.print(f"  allowed actions: {', '.join(body['allowed_actions']) or 'none'}")
    else:
        err.print(f"[red]{response.status_code}[/red] {response.text}")
    raise typer.Exit(1)


def _post(ctx: typer.Context, path: str, body: Any) -> Any:
    conn: Connection = ctx.obj
    # One key per invocation: a retry inside httpx (or by the user's shell) is safe.
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    try:
        with conn.client() as client:
            return _answer(client.post(path, json=body, headers=headers))
    except httpx.TransportError as error:
        err.print(f"[red]cannot reach {conn.url}: {error}[/red]")
        raise typer.Exit(3) from error


def _get(ctx: typer.Context, path: str, params: dict[str, Any] | None = None) -> Any:
    conn: Connection = ctx.obj
    try:
        with conn.client() as client:
            return _answer(client.get(path, params=params))
    except httpx.TransportError as error:
        err.print(f"[red]cannot reach {conn.url}: {error}[/red]")
        raise typer.Exit(3) from error


@app.command()
def start(
    ctx: typer.Context,
    file: Annotated[Path, typer.Option("--file", "-f", help="EpisodeStart as JSON")],
) -> None:
    """Start an episode from a JSON file (the same file again is harmless)."""
    view = _post(ctx, "/v1/episodes", _read_json(file))
    out.print(f"episode [bold]{view['episode_id']}[/bold] is in phase {view['phase']}")


@app.command()
def show(ctx: typer.Context, episode_id: str) -> None:
    """Show an episode's live state."""
    out.print_json(data=_get(ctx, f"/v1/episodes/{episode_id}"))


@app.command()
def census(
    ctx: typer.Context,
    program: Annotated[str | None, typer.Option(help="only this program")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
) -> None:
    """Open episodes as a table, soonest review first."""
    params: dict[str, Any] = {"limit": limit, "count_total": True}
    if program:
        params["program"] = program
    page = _get(ctx, "/v1/episodes", params)
    table = Table(title=f"census ({page['total']} open)")
    if page.get("next_cursor"):
        table.caption = f"first {len(page['items'])}; more with --limit (up to 500)"
    for column in ("episode", "program", "phase", "level", "next review", "risk"):
        table.add_column(column)
    for item in page["items"]:
        table.add_row(
            item["episode_id"],
            item["program_id"],
            item["phase"],
            item["delivered_level"] or "-",
            (item["next_review_due"] or "-")[:16],
            "yes" if item["risk_flag"] else "",
        )
    out.print(table)


@app.command()
def review(
    ctx: typer.Context,
    episode_id: str,
    file: Annotated[Path, typer.Option("--file", "-f", help="ReviewSubmission as JSON")],
) -> None:
    """Submit a weekly review and print the engine's decision."""
    decision = _post(ctx, f"/v1/episodes/{episode_id}/reviews", _read_json(file))
    out.print(
        f"phase [bold]{decision['phase']}[/bold]; recommended: "
        f"{decision.get('recommended_action') or '-'}"
        + (f" → {decision['target_level']}" if decision.get("target_level") else "")
    )
    for reason in decision.get("reasons", []):
        out.print(f"  • {reason}")
    if decision.get("flags"):
        out.print(f"  flags: {', '.join(decision['flags'])}")
