"""Issue 14 item 18: strict for a new policy, lenient for one a running episode stored.

A policy accepted by an older release (before the ranges and the per-level tables) rides
in running episodes' workflow input and carried state; it must still decode, keeping its
values, while the same policy sent new is refused naming the field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy
from schemas.episode import EpisodeStart, PatientRef
from workflows.state import EpisodeInput, EpisodeState

L = LevelOfCare
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _old_policy() -> dict[str, Any]:
    """Written by an older release: nonsense by today's rules, a removed setting, no
    `levels_delivered` and an OP-less review table."""
    return {
        "review_interval_days": {"iop": 7.0, "php": 7.0},
        "external_wait_days": 0,
        "appeal_window_days": 0,
        "meaningful_change": 0,
        "aftercare_checkin_days": [],
        "patient_message_window_hours": [9, 20],
        "retired_setting": 3,
    }


def _start(policy: dict[str, Any]) -> dict[str, Any]:
    start = EpisodeStart(program_id="p1", patient=PatientRef(patient_ref="MRN-OLD"))
    return {**start.model_dump(mode="json"), "policy": policy}


def _payload(value: dict[str, Any]) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


def test_the_same_old_policy_sent_new_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as refused:
        EpisodeStart.model_validate(_start(_old_policy()))
    fields = {err["loc"][1] for err in refused.value.errors() if err["loc"][0] == "policy"}
    assert {"external_wait_days", "appeal_window_days", "meaningful_change"} <= fields


def test_a_running_episodes_input_with_an_old_policy_decodes_with_its_values() -> None:
    converter = pydantic_data_converter.payload_converter
    [decoded] = converter.from_payloads(
        [_payload({"start": _start(_old_policy())})], [EpisodeInput]
    )
    assert isinstance(decoded, EpisodeInput)
    policy = decoded.start.policy
    assert isinstance(policy, ProgramPolicy)
    assert (policy.external_wait_days, policy.appeal_window_days) == (0, 0)
    assert policy.meaningful_change == 0 and policy.aftercare_checkin_days == ()
    assert policy.review_interval_days == {L.IOP: 7.0, L.PHP: 7.0}
    assert policy.patient_message_window_hours == (9, 20)
    assert policy.levels_delivered == ProgramPolicy().levels_delivered  # the default
    assert not hasattr(policy, "retired_setting")


def test_carried_state_with_an_old_policy_decodes_for_the_next_run() -> None:
    start = _start(_old_policy())
    state = {
        "start": start,
        "started_at": AT.isoformat(),
        "updated_at": AT.isoformat(),
        "engine_version": 2,
    }
    carried = {"start": start, "state": state}
    [decoded] = pydantic_data_converter.payload_converter.from_payloads(
        [_payload(carried)], [EpisodeInput]
    )
    assert isinstance(decoded, EpisodeInput) and isinstance(decoded.state, EpisodeState)
    assert decoded.state.start.policy.external_wait_days == 0
    # ... and it goes on round-tripping through continue-as-new.
    again = EpisodeInput.model_validate_json(decoded.model_dump_json())
    assert again.state is not None and again.state.start.policy == decoded.state.start.policy


def test_lenient_reading_still_checks_types() -> None:
    bad = {**_old_policy(), "external_wait_days": "ninety"}
    with pytest.raises(ValidationError):
        EpisodeInput.model_validate({"start": _start(bad)})


def test_a_policy_built_outside_a_stored_read_stays_strict() -> None:
    EpisodeInput.model_validate({"start": _start(_old_policy())})  # lenient inside ...
    with pytest.raises(ValidationError):  # ... and strict again afterwards
        ProgramPolicy.model_validate(_old_policy())
