"""`make demo`: fill a demonstration program with synthetic episodes in every phase,
through the HTTP API as a clinic system, its care team and its UR staff would, so the
first look at Today, the census and an episode page is not empty.

Run against a running `make run` stack (it reads the development API keys under
data/keys/). Every patient is synthetic; member IDs pick the sandbox payer's answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from config.settings import load_settings

DEMO_PROGRAM = "demo"
WAIT_ROUNDS = 150  # polls of 0.2 s while the worker checks eligibility with the payer


@dataclass(frozen=True)
class DemoEpisode:
    """One synthetic patient's path: the sandbox member ID, then what people submit."""

    name: str
    member_id: str | None
    reviews: tuple[tuple[int, ...], ...] = ()
    decision: dict[str, Any] | None = None
    event: str | None = None
    expect: str = "in_treatment"
    assess: bool = True


SCENARIOS: tuple[DemoEpisode, ...] = (
    DemoEpisode("awaiting assessment", "NOAUTH-D1", assess=False, expect="assessment"),
    DemoEpisode("coverage inactive", "INACTIVE-D2", expect="financial_counseling"),
    DemoEpisode("waiting on the payer", "PEND-D3", expect="authorization"),
    DemoEpisode("denied, in appeal", "DENY-D4", expect="appeal"),
    DemoEpisode("authorized IOP", "APPROVE-D5", reviews=((2, 2, 2, 1, 1, 1, 1, 1, 0),)),
    DemoEpisode("improving", "NOAUTH-D6", reviews=((2, 2, 1, 1, 1, 1, 1, 0, 0), (1,) * 8 + (0,))),
    DemoEpisode("self-harm item on review", "NOAUTH-D7", reviews=((2, 2, 2, 2, 1, 1, 1, 1, 1),)),
    DemoEpisode("stable", "NOAUTH-D8", reviews=((1, 1, 1, 1, 1, 1, 0, 0, 0),)),
    DemoEpisode(
        "stepped up to inpatient",
        "NOAUTH-D9",
        decision={"action": "step_up", "target_level": "inpatient", "reason": "demo"},
        expect="external_care",
    ),
    DemoEpisode(
        "discharged to aftercare",
        "NOAUTH-D10",
        decision={"action": "discharge", "reason": "goals met"},
        expect="aftercare",
    ),
    DemoEpisode("entered in error", "NOAUTH-D11", event="entered_in_error", expect="closed"),
)


@dataclass
class DemoKeys:
    """Bearer tokens by role (the development keys may act for any actor)."""

    by_role: Mapping[str, str]
    actors: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.by_role[role]}"}


def load_dev_keys(data_dir: Path) -> DemoKeys:
    entries: dict[str, dict[str, Any]] = json.loads(
        (data_dir / "keys" / "api-keys.json").read_text(encoding="utf-8")
    )
    return DemoKeys(
        by_role={str(e["role"]): token for token, e in entries.items()},
        actors={str(e["role"]): str(e["actor"]) for e in entries.values()},
    )


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def _ok(answer: httpx.Response) -> dict[str, Any]:
    if answer.status_code >= 300:
        raise RuntimeError(f"{answer.request.method} {answer.request.url.path}: {answer.text}")
    body: dict[str, Any] = answer.json()
    return body


async def _phase_after(
    client: httpx.AsyncClient, keys: DemoKeys, episode_id: str, expect: str
) -> str:
    """The phase once the worker has done its part (the payer's answers): bounded wait."""
    phase = ""
    for _ in range(WAIT_ROUNDS):
        view = await _ok(
            await client.get(f"/v1/episodes/{episode_id}", headers=keys.headers("care-team"))
        )
        phase = str(view["phase"])
        if phase == expect:
            return phase
        await asyncio.sleep(0.2)
    return phase


async def fill_demo(
    client: httpx.AsyncClient, keys: DemoKeys, *, program: str = DEMO_PROGRAM
) -> dict[str, str]:
    """Create every scenario; returns episode ID → the phase it reached."""
    care = keys.actors.get("care-team", "dev-care-team")
    reached: dict[str, str] = {}
    for number, scenario in enumerate(SCENARIOS, start=1):
        episode_id = _id("demo")
        coverage = (
            {"payer_id": "SANDBOX", "member_id": scenario.member_id} if scenario.member_id else None
        )
        await _ok(
            await client.post(
                "/v1/episodes",
                headers=keys.headers("clinic-system"),
                json={
                    "episode_id": episode_id,
                    "program_id": program,
                    "patient": {"patient_ref": f"DEMO-{number}", "name": f"Demo Patient {number}"},
                    "coverage": coverage,
                    "consents": {"payer_disclosure": True},
                },
            )
        )
        if scenario.event == "entered_in_error":
            await _ok(
                await client.post(
                    f"/v1/episodes/{episode_id}/events",
                    headers=keys.headers("clinic-system"),
                    json={
                        "event_id": _id("evt"),
                        "reported_by": keys.actors.get("clinic-system", "dev-clinic-system"),
                        "kind": "entered_in_error",
                        "reason": "demo: duplicate referral",
                    },
                )
            )
            reached[episode_id] = await _phase_after(client, keys, episode_id, scenario.expect)
            continue
        if scenario.assess:
            await _ok(
                await client.post(
                    f"/v1/episodes/{episode_id}/assessment",
                    headers=keys.headers("care-team"),
                    json={
                        "assessment_id": _id("asm"),
                        "clinician_id": care,
                        "phq9": {"items": [2, 2, 2, 2, 2, 2, 1, 1, 0]},
                        "gad7": {"items": [2, 2, 2, 1, 1, 1, 1]},
                        "determination": {
                            "instrument": "LOCUS",
                            "level": "iop",
                            "rationale": "demo: level 3",
                        },
                    },
                )
            )
        enrolled = "in_treatment" if scenario.decision else scenario.expect
        phase = await _phase_after(client, keys, episode_id, enrolled)
        for items in scenario.reviews:
            await _ok(
                await client.post(
                    f"/v1/episodes/{episode_id}/reviews",
                    headers=keys.headers("care-team"),
                    json={
                        "review_id": _id("rev"),
                        "clinician_id": care,
                        "phq9": {"items": list(items)},
                        "hours_attended": 10,
                        "units_attended": 3,
                    },
                )
            )
        if scenario.decision is not None:
            await _ok(
                await client.post(
                    f"/v1/episodes/{episode_id}/decisions",
                    headers=keys.headers("care-team"),
                    json={"decision_id": _id("dec"), "clinician_id": care, **scenario.decision},
                )
            )
            phase = await _phase_after(client, keys, episode_id, scenario.expect)
        reached[episode_id] = phase
    return reached


def main() -> None:
    settings = load_settings()
    base_url = f"http://{settings.api_host}:{settings.api_port}"
    keys = load_dev_keys(settings.data_dir)

    async def run() -> dict[str, str]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            return await fill_demo(client, keys)

    try:
        reached = asyncio.run(run())
    except (httpx.HTTPError, RuntimeError, FileNotFoundError) as error:
        sys.exit(f"make demo needs a running `make run` stack at {base_url}: {error}")
    for episode_id, phase in reached.items():
        print(f"  {episode_id}  {phase}")
    print(f"{len(reached)} demonstration episodes in program '{DEMO_PROGRAM}'.")
    print(f"Open {base_url}/app/ and sign in with a development account.")


if __name__ == "__main__":
    main()
