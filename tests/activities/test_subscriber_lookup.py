"""The payer activities read the subscriber from the patient store (engine V3 requests name
their episode), and the 270 carries the name and birth date; older requests go as before."""

from __future__ import annotations

from datetime import UTC, date, datetime

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
