"""The payer activities read the subscriber from the patient store (engine V3 requests name
their episode), and the 270 carries the name and birth date; older requests go as before."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from temporalio.exceptions import ApplicationError

from activities.care import CareActivities
from activities.memory import InMemoryRecordStore
from activities.patients import InMemoryPatients
from activities.x12 import Submitter, build_270, read_separators, split_segments
from rules.levels import LevelOfCare
from schemas.payer import (
    AuthorizationRequest,
    AuthRequirement,
    EligibilityRequest,
    EligibilityResult,
    PayerAnswer,
    PayerRequestKind,
    PayerStatus,
    Subscriber,
)

NOW = datetime(2025, 5, 6, 13, 45, tzinfo=UTC)
ADA = Subscriber(last_name="Lovelace", first_name="Ada Q", birth_date=date(1990, 2, 3))


class RecordingPayer:
    def __init__(self) -> None:
        self.eligibility: list[EligibilityRequest] = []
        self.authorizations: list[AuthorizationRequest] = []

    async def check_eligibility(self, request: EligibilityRequest) -> EligibilityResult:
        self.eligibility.append(request)
        return EligibilityResult(
            active=True, authorization=AuthRequirement.NOT_REQUIRED, checked_at=NOW
        )

    async def request_authorization(self, request: AuthorizationRequest) -> PayerAnswer:
        self.authorizations.append(request)
        return PayerAnswer(reference="r-1", status=PayerStatus.PENDING)


def _segments(request: EligibilityRequest) -> list[list[str]]:
    text = build_270(request, Submitter(), NOW)
    return split_segments(text, read_separators(text))


def _eligibility(episode_id: str | None) -> EligibilityRequest:
    return EligibilityRequest(
        request_id="care-episode-ep-1:3", payer_id="60054", member_id="M-42", episode_id=episode_id
    )


def _authorization(episode_id: str | None) -> AuthorizationRequest:
    return AuthorizationRequest(
        request_id="care-episode-ep-1:4",
        kind=PayerRequestKind.INITIAL,
        payer_id="60054",
        member_id="M-42",
        level=LevelOfCare.IOP,
        units_requested=12,
        episode_id=episode_id,
    )


async def test_v3_requests_get_the_subscriber_from_the_store() -> None:
    payer = RecordingPayer()
    patients = InMemoryPatients({"ep-1": ADA})
    activities = CareActivities(InMemoryRecordStore(), payer, patients)
    await activities.check_eligibility(_eligibility("ep-1"))
    await activities.request_authorization(_authorization("ep-1"))
    assert patients.lookups == ["ep-1", "ep-1"]
    assert payer.eligibility[0].subscriber == ADA
    assert payer.authorizations[0].subscriber == ADA


async def test_requests_without_an_episode_or_a_patient_row_go_as_before() -> None:
    payer = RecordingPayer()
    patients = InMemoryPatients()
    activities = CareActivities(InMemoryRecordStore(), payer, patients)
    await activities.check_eligibility(_eligibility(None))  # a V1/V2 run's request
    await activities.check_eligibility(_eligibility("ep-unknown"))
    assert patients.lookups == ["ep-unknown"]
    assert [r.subscriber for r in payer.eligibility] == [None, None]


def test_270_names_the_subscriber_and_gives_the_birth_date() -> None:
    request = _eligibility("ep-1").model_copy(update={"subscriber": ADA})
    segments = _segments(request)
    member = next(s for s in segments if s[:2] == ["NM1", "IL"])
    assert member == ["NM1", "IL", "1", "LOVELACE", "ADA Q", "", "", "", "MI", "M-42"]
    position = segments.index(member)
    assert segments[position + 1] == ["DMG", "D8", "19900203"]


def test_270_names_with_separators_are_cleaned_not_refused() -> None:
    odd = Subscriber(last_name="O*Brien~", first_name="Ma:ry^ Ann")
    segments = _segments(_eligibility("ep-1").model_copy(update={"subscriber": odd}))
    member = next(s for s in segments if s[:2] == ["NM1", "IL"])
    assert member[3:5] == ["O BRIEN", "MA RY ANN"]
    assert not any(s[0] == "DMG" for s in segments)


def test_270_without_a_subscriber_is_unchanged() -> None:
    segments = _segments(_eligibility(None))
    assert ["NM1", "IL", "1", "", "", "", "", "", "MI", "M-42"] in segments
    assert not any(s[0] == "DMG" for s in segments)


async def test_a_request_without_member_id_gets_the_one_on_file() -> None:
    """Issue 9: the workflow sends no member ID (the API keeps it in PostgreSQL); the
    activity reads it with the subscriber, for the start's coverage or a coverage change."""
    payer = RecordingPayer()
    patients = InMemoryPatients({"ep-1": ADA.model_copy(update={"member_id": "M-ON-FILE"})})
    patients.keep_coverage("ep-1", "cov-7", "M-CHANGED")
    activities = CareActivities(InMemoryRecordStore(), payer, patients)
    bare = _eligibility("ep-1").model_copy(update={"member_id": None})
    await activities.check_eligibility(bare)
    await activities.check_eligibility(bare.model_copy(update={"coverage_ref": "cov-7"}))
    await activities.check_eligibility(bare.model_copy(update={"coverage_ref": "cov-unknown"}))
    await activities.request_authorization(
        _authorization("ep-1").model_copy(update={"member_id": None, "coverage_ref": "cov-7"})
    )
    assert [r.member_id for r in payer.eligibility] == ["M-ON-FILE", "M-CHANGED", "M-ON-FILE"]
    assert [r.member_id for r in payer.authorizations] == ["M-CHANGED"]
    assert bare.member_id is None, "what the workflow sent is unchanged"


async def test_no_member_id_anywhere_is_refused_as_bad_data_not_retried() -> None:
    payer = RecordingPayer()
    activities = CareActivities(InMemoryRecordStore(), payer, InMemoryPatients({"ep-1": ADA}))
    bare = _eligibility("ep-1").model_copy(update={"member_id": None})
    with pytest.raises(ApplicationError) as refused:
        await activities.check_eligibility(bare)
    assert refused.value.type == "PayerDataError" and refused.value.non_retryable
    assert "M-" not in str(refused.value) and payer.eligibility == []
