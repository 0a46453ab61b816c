"""CAREPATH_PROGRAM_TIME_ZONES: each program's zone for the outcomes report, checked when
the settings load."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.settings import ApiSettings


def test_a_named_program_reports_in_its_zone_others_in_utc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAREPATH_PROGRAM_TIME_ZONES", '{"iop-east": "America/New_York"}')
    settings = ApiSettings()
    assert settings.program_time_zone("iop-east") == "America/New_York"
    assert settings.program_time_zone("iop-west") == "UTC"


def test_an_unknown_zone_is_refused_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREPATH_PROGRAM_TIME_ZONES", '{"iop-east": "Mars/Olympus_Mons"}')
    with pytest.raises(ValidationError, match="Mars/Olympus_Mons"):
        ApiSettings()
