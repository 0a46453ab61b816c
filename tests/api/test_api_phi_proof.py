"""Proof: no patient data in Temporal, even decrypted (issue 9, "No patient data in Temporal").

Episodes are started through `POST /v1/episodes` with a distinctive name, date of birth,
MRN, phone and email address, then taken through every phase on the time-skipping server
with the production converter (AES-256-GCM): assessment, eligibility, authorization,
weekly reviews, step-down, step-up (to PHP, out to inpatient and back), discharge and
aftercare, a coverage change, the patient's own questionnaire, attendance notices; each
continues as new several times (a low history limit). Then every payload of every run's
history is decoded WITH THE CODEC and none of those strings is found, in any form the
system writes them (JSON date, X12 date, upper case), nor the payer member IDs (the
start's and a coverage change's, sent through the API), nor an adolescent's 18th birthday
(engine V4: the records answer "adult on this day?"). Controls: the same scan finds the
episode's opaque patient key in the decoded payloads (and not in the raw, encrypted ones),
and the payer did get the subscriber's name, birth date and member ID (read from PostgreSQL).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities.care import CareActivities
from activities.payer_sandbox import SandboxPayer
from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from codec.aes import ENCODING
from codec.converter import build_data_converter
from codec.keys import KeyRing
from rules.levels import LevelOfCare
from schemas.attendance import AttendanceNotice
from schemas.payer import (
    AuthorizationRequest,
    EligibilityRequest,
    EligibilityResult,
    PayerAnswer,
    Subscriber,
)
from schemas.submissions import PatientMeasureSubmission, Phq9
from store.patients import PostgresPatients
from store.postgres import PostgresRecordStore
from temporal_client import episode_handle
from tests.api.conftest import KEYS, PROGRAM, bearer
from tests.replay.record_histories import happy_path, iop_week_attendance, safety_and_step_up
from tests.workflows.clinic import Clinic, chain_histories
from tests.workflows.payloads import payloads_in
from worker.registration import register_search_attributes
from worker.runtime import build_worker
from workflows.care_episode import CareEpisode

NAME = "Xanthippe Qorvathphiproof"
MRN = "MRN-PHIPROOF-90210"
BIRTH_DATE = date(1937, 6, 15)
PHONE = "+15557770199"
EMAIL = "xanthippe.qorvath@phiproof.example"
# Every spelling of the patient's data the system writes: JSON, X12 (upper case, CCYYMMDD).
PHI = (
    NAME,
    "Qorvathphiproof",
    "QORVATHPHIPROOF",
    "Xanthippe",
    "XANTHIPPE",
    MRN,
    "PHIPROOF-90210",
    BIRTH_DATE.isoformat(),
    BIRTH_DATE.strftime("%Y%m%d"),
    PHONE,
    "5557770199",
    EMAIL,
    "phiproof.example",
)
HISTORY_LIMIT = 80  # continue-as-new every ~80 events: several runs per episode
# Payer member IDs (the sandbox answers by prefix), distinctive enough to scan for.
MEMBER = "-MBRPHIPROOF-4471"
CHANGED_MEMBER = "M800-MBRPHIPROOF-CHANGED"
# The adolescent's 18th birthday, given in the body as `adult_on` (no birth date): this
# long after the scenario starts, so the first reviews see 17 and the last 18; not a
# multiple of the 7-day review interval, so no review date or age question equals it.
ADULT_IN = timedelta(days=17)


class RecordingPayer(SandboxPayer):
    """The sandbox payer, keeping the subscriber each request reached it with."""

    def __init__(self) -> None:
        super().__init__()
        self.subscribers: list[Subscriber | None] = []

    async def check_eligibility(self, request: EligibilityRequest) -> EligibilityResult:
        self.subscribers.append(request.subscriber)
        return await super().check_eligibility(request)

    async def request_authorization(self, request: AuthorizationRequest) -> PayerAnswer:
        self.subscribers.append(request.subscriber)
        return await super().request_authorization(request)


@dataclass
class Proof:
    env: WorkflowEnvironment
    api: httpx.AsyncClient
    pool: asyncpg.Pool
    payer: RecordingPayer


@pytest.fixture
async def proof(api_pool: asyncpg.Pool) -> AsyncIterator[Proof]:
    binary = shutil.which("temporal-test-server")
    if binary is None:
        pytest.fail("temporal-test-server is not on PATH: run the tests with `make test`")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary, data_converter=build_data_converter(KeyRing.generate())
    )
    await register_search_attributes(env.client)
    # The API's own start, with a history limit low enough to continue as new often.
    settings = ApiSettings(
        task_queue=f"care-episodes-phi-{uuid.uuid4().hex[:8]}",
        api_keys=KEYS,
        api_temporal_timeout_seconds=10,
        history_event_limit=HISTORY_LIMIT,
    )
    payer = RecordingPayer()
    activities = CareActivities(PostgresRecordStore(api_pool), payer, PostgresPatients(api_pool))
    app = create_app(ApiDeps(client=env.client, pool=api_pool, settings=settings))
    try:
        async with (
            build_worker(env.client, task_queue=settings.task_queue, activities=activities),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://carepath.test"
            ) as client,
        ):
            yield Proof(env, client, api_pool, payer)
    finally:
        await env.shutdown()


async def _admit(proof: Proof, member_id: str, adult_on: date | None = None) -> Clinic:
    body: dict[str, Any] = {
        "episode_id": f"phi-{uuid.uuid4().hex[:12]}",
        "program_id": PROGRAM,
        "patient": {"patient_ref": MRN, "name": NAME, "birth_date": BIRTH_DATE.isoformat()},
        "coverage": {"payer_id": "SANDBOX", "member_id": member_id},
        "contact": {"sms": True, "email": True, "phone": PHONE, "email_address": EMAIL},
        "consents": {"payer_disclosure": True},
    }
    if adult_on is not None:  # an adolescent with the birthday, not the birth date
        body["age_group"] = "adolescent"
        body["adult_on"] = adult_on.isoformat()
        body["patient"] = {"patient_ref": MRN, "name": NAME}
    answer = await proof.api.post("/v1/episodes", json=body, headers=bearer("tok-clinic"))
    assert answer.status_code == 201, answer.text
    handle = episode_handle(proof.env.client, body["episode_id"])
    _API[body["episode_id"]] = proof.api
    return Clinic(proof.env, handle, body["episode_id"])


async def coverage_and_patient_measures(clinic: Clinic) -> None:
    """A coverage change in treatment (eligibility again) and the patient's own PHQ-9."""
    await clinic.assess(LevelOfCare.IOP, total=18)
    await clinic.wait(hours=1)
    await clinic.approve(units=20)
    # The coverage change through the API: its member ID goes to PostgreSQL, not Temporal.
    answer = await _api(clinic).post(
        f"/v1/episodes/{clinic.episode_id}/coverage",
        json={
            "submission_id": f"cov-{uuid.uuid4().hex[:8]}",
            "recorded_by": "ur-3",
            "coverage": {"payer_id": "SANDBOX", "member_id": CHANGED_MEMBER},
        },
        headers=bearer("tok-ur"),
    )
    assert answer.status_code == 200, answer.text
    await clinic.wait(hours=1)
    await clinic.handle.execute_update(
        CareEpisode.submit_patient_measure,
        PatientMeasureSubmission(
            submission_id=f"link-{uuid.uuid4().hex[:8]}",
            instrument="phq9",
            phq9=Phq9(items=[1, 1, 1, 1, 1, 1, 1, 1, 0]),
        ),
    )
    await clinic.until_review()
    await clinic.review(None)  # takes the patient's answers
    await clinic.handle.execute_update(
        CareEpisode.record_attendance,
        AttendanceNotice.model_validate(
            {
                "notice_id": "notice-phi",
                "recorded_by": "clin-1",
                "session_id": "grp-phi.s1",
                "session_date": (await clinic.env.get_current_time()).date(),
                "kind": "no_show",
                "consecutive_no_shows": 1,
                "absences": 1,
            }
        ),
    )
    await clinic.wait(days=2)


async def adolescent_turning_18(clinic: Clinic) -> None:
    """Reviews until well past the birthday: the records say adult, the workflow follows."""
    await clinic.assess(LevelOfCare.IOP, total=16)
    await clinic.wait(hours=1)
    await clinic.approve(units=60, days=120)
    for _ in range(6):
        await clinic.until_review()
        await clinic.review(12, hours=7)


SCENARIOS: list[tuple[str, Callable[[Clinic], Awaitable[None]]]] = [
    ("M100" + MEMBER, happy_path),
    ("M200" + MEMBER, safety_and_step_up),
    ("M600" + MEMBER, iop_week_attendance),
    ("M700" + MEMBER, coverage_and_patient_measures),
    ("TEEN" + MEMBER, adolescent_turning_18),
]
# The API client of each admitted episode (a scenario's coverage change goes through it).
_API: dict[str, httpx.AsyncClient] = {}


def _api(clinic: Clinic) -> httpx.AsyncClient:
    return _API[clinic.episode_id]


@dataclass
class Scan:
    decoded: bytes  # every payload's data and metadata, decoded with the codec
    raw: bytes  # every event as stored (encrypted payloads, plain fields)
    payloads: int
    encrypted: int


async def _scan(env: WorkflowEnvironment, histories: list[WorkflowHistory]) -> Scan:
    codec = env.client.data_converter.payload_codec
    assert codec is not None, "encryption must stay on"
    decoded: list[bytes] = []
    raw: list[bytes] = []
    payloads = encrypted = 0
    for history in histories:
        for event in history.events:
            raw.append(event.SerializeToString())
            found = list(payloads_in(event))
            payloads += len(found)
            encrypted += sum(p.metadata.get("encoding") == ENCODING for p in found)
            for plain in await codec.decode(found):
                decoded.append(plain.data)
                decoded.extend(plain.metadata.values())
    return Scan(b"\n".join(decoded), b"\n".join(raw), payloads, encrypted)


def _found(blob: bytes, text: str) -> bool:
    return text.encode() in blob or text.lower().encode() in blob.lower()


async def test_no_patient_data_in_any_payload_of_any_run(proof: Proof) -> None:
    clinics: list[Clinic] = []
    birthday: tuple[str, ...] = ()
    for member_id, scenario in SCENARIOS:
        adult_on = None
        if member_id.startswith("TEEN"):
            adult_on = (await proof.env.get_current_time()).date() + ADULT_IN
            birthday = (adult_on.isoformat(), adult_on.strftime("%Y%m%d"))
        clinic = await _admit(proof, member_id, adult_on)
        await scenario(clinic)
        clinics.append(clinic)
    assert birthday
    teen = await clinics[-1].state()
    assert teen.age_group is not None and teen.age_group.value == "adult", "the records said"

    patients = PostgresPatients(proof.pool)
    for clinic in clinics:
        histories = await chain_histories(clinic)
        scan = await _scan(proof.env, histories)
        record = await patients.get(clinic.episode_id)
        assert record is not None and record.display_name == NAME  # PostgreSQL has it

        # Controls: the scan reads decrypted payloads (the opaque key is there, and only
        # encrypted in the stored events), and a string in them is found.
        assert scan.payloads > 0 and scan.encrypted > 0
        assert _found(scan.decoded, record.patient_key)
        assert not _found(scan.raw, record.patient_key)
        assert _found(scan.decoded, clinic.episode_id)
        assert _found(scan.decoded, '"phase"')

        leaked = [
            text
            for text in PHI + birthday + (MEMBER, CHANGED_MEMBER)
            if _found(scan.decoded, text) or _found(scan.raw, text)
        ]
        assert leaked == [], f"{clinic.episode_id}: {leaked} in Temporal"

    runs = [len(await chain_histories(c)) for c in clinics]
    assert all(n >= 2 for n in runs), f"every episode continued as new at least once: {runs}"
    # The payer got what it needs, from the store, at call time.
    members = {s.member_id for s in proof.payer.subscribers if s is not None}
    assert {m for m, _ in SCENARIOS} | {CHANGED_MEMBER} == members
    expected = Subscriber(
        last_name="Qorvathphiproof", first_name="Xanthippe", birth_date=BIRTH_DATE
    )
    adult = [s for s in proof.payer.subscribers if s and not str(s.member_id).startswith("TEEN")]
    assert adult and all(s.model_copy(update={"member_id": None}) == expected for s in adult)
