"""A production worker refuses to start with an integration unset, and names it.

The process tests start `python -m worker` for real; the Temporal address points at a
port nothing listens on, so a worker that got past the check would fail differently (and
later): the message asserted here can only come from the fail-closed check.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from codec.keys import new_key_entry
from config.settings import Settings
from tests.serving import free_port
from worker.adapters import MissingIntegration, choices

ROOT = Path(__file__).resolve().parents[2]
REFUSAL = "refusing to start (CAREPATH_ENV=production)"


def start_worker(**settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREPATH_")}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "CAREPATH_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "CAREPATH_CODEC_KEYS": new_key_entry("fail-closed"),
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
            **settings,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_worker_without_integrations_refuses_to_start() -> None:
    done = start_worker()
    assert done.returncode != 0
    assert REFUSAL in done.stderr, done.stderr
    assert "CAREPATH_PAYER_URL is not set" in done.stderr
    assert "CAREPATH_PAYER=sandbox" in done.stderr
    assert "CAREPATH_WEBHOOK_URL is not set" in done.stderr
    assert "CAREPATH_NOTIFY=log" in done.stderr


def test_half_configured_integration_names_the_missing_setting() -> None:
    done = start_worker(
        CAREPATH_PAYER_URL="https://clearinghouse.invalid/x12",
        CAREPATH_WEBHOOK_URL="https://clinic.invalid/hook",
        CAREPATH_WEBHOOK_SECRET="s3cret",
    )
    assert done.returncode != 0
    assert REFUSAL in done.stderr, done.stderr
    assert "payer: CAREPATH_PAYER_API_KEY not set" in done.stderr
    assert "WEBHOOK" not in done.stderr.split(REFUSAL, 1)[1]


def test_explicit_stand_ins_get_past_the_check() -> None:
    """Chosen on purpose, the worker goes on (and then fails on the absent Temporal)."""
    done = start_worker(CAREPATH_PAYER="sandbox", CAREPATH_NOTIFY="log")
    assert done.returncode != 0  # nothing listens at the Temporal address
    assert REFUSAL not in done.stderr, done.stderr
    assert "payer: sandbox stand-in (CAREPATH_ENV=production, CAREPATH_PAYER=sandbox)" in (
        done.stderr
    )


@pytest.mark.parametrize(
    ("values", "wanted"),
    [
        ({"env": "development"}, {"payer": "sandbox", "notifications": "log"}),
        (
            {"env": "development", "payer_url": "https://p", "payer_api_key": SecretStr("k")},
            {"payer": "clearinghouse", "notifications": "log"},
        ),
        (
            {
                "payer_url": "https://p",
                "payer_api_key": SecretStr("k"),
                "webhook_url": "https://w",
                "webhook_secret": SecretStr("s"),
            },
            {"payer": "clearinghouse", "notifications": "webhook"},
        ),
        (
            {"payer": "sandbox", "webhook_url": "https://w", "webhook_secret": SecretStr("s")},
            {"payer": "sandbox", "notifications": "webhook"},
        ),
    ],
)
def test_choices(values: dict[str, object], wanted: dict[str, str]) -> None:
    assert choices(Settings.model_validate(values)) == wanted


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"payer_url": "", "notify": "log"},  # an empty value is unset
        {"payer": "clearinghouse", "notify": "log", "env": "development"},
        {"payer": "sandbox", "notify": "webhook", "webhook_url": "https://w"},
    ],
)
def test_refusals(values: dict[str, object]) -> None:
    with pytest.raises(MissingIntegration):
        choices(Settings.model_validate(values))
