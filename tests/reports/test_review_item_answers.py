"""Every PHQ-9 / GAD-7 item answer of an assessment, a review and a patient-reported measure
reaches the records (reviews.phq9_items / gad7_items, migration 0720) and the episode's FHIR
QuestionnaireResponses, each item with its LOINC code; rows written before keep the
total-only shape. The engine's own loop makes the batches, the real store writes them to
PostgreSQL, and every resource validates with fhir.resources (R4B)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from api.reports.fhir_bundle import episode_bundle
from api.reports.fhir_items import GAD7_ITEMS, PHQ9_ITEMS
from rules.levels import LevelOfCare
from rules.transitions import Action
from schemas.records import ReviewRecord
from schemas.submissions import (
    AssessmentSubmission,
    Gad7,
    LevelDetermination,
    PatientMeasureSubmission,
    Phq9,
    ReviewSubmission,
)
from store.fhir_records import fhir_records
from store.postgres import PostgresRecordStore
from tests.store.store_builders import T0, batch, snapshot
from tests.workflows.engine_loop import LoopCase

INTAKE_PHQ9 = [3, 2, 2, 1, 3, 0, 2, 1, 1]
INTAKE_GAD7 = [2, 3, 1, 0, 2, 1, 3]
REVIEW_PHQ9 = [1, 0, 2, 1, 0, 1, 0, 2, 0]
PATIENT_GAD7 = [0, 1, 0, 2, 1, 0, 1]
PHQ9_CODES = [code for code, _ in PHQ9_ITEMS]
GAD7_CODES = [code for code, _ in GAD7_ITEMS]


def _episode() -> LoopCase:
    """Assessed with both instruments, enrolled, a GAD-7 by link, then a review with its own
    PHQ-9 that takes the patient's GAD-7."""
    case = LoopCase.admit()
    case.submit(
        Action.SUBMIT_ASSESSMENT,
        AssessmentSubmission(
            assessment_id="asmt-items",
            clinician_id="clin-1",
            phq9=Phq9(items=INTAKE_PHQ9),
            gad7=Gad7(items=INTAKE_GAD7),
            determination=LevelDetermination(
                instrument="LOCUS", level=LevelOfCare.IOP, rationale="synthetic determination"
            ),
        ),
    )
    case.wait(hours=1)
    case.approve()
    case.until_review()
    case.submit(
        Action.SUBMIT_PATIENT_MEASURE,
        PatientMeasureSubmission(
            submission_id="link-items", instrument="gad7", gad7=Gad7(items=PATIENT_GAD7)
        ),
    )
    case.submit(
        Action.SUBMIT_REVIEW,
        ReviewSubmission(
            review_id="rev-items",
            clinician_id="clin-1",
            phq9=Phq9(items=REVIEW_PHQ9),
            hours_attended=10,
            units_attended=3,
        ),
    )
    return case


def _responses(bundle_json: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle_json["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    ]


def _answers(response: dict[str, Any]) -> list[tuple[str, int]]:
    return [(i["linkId"], i["answer"][0]["valueInteger"]) for i in response["item"]]


async def test_every_item_answer_reaches_the_records_and_the_bundle(pool: asyncpg.Pool) -> None:
    case = _episode()
    store = PostgresRecordStore(pool)
    for key in sorted(case.adapters.store.batches):
        await store.apply(case.adapters.store.batches[key])
    rows = await pool.fetch(
        "SELECT review_id, phq9_total, phq9_item9, phq9_items, gad7_total, gad7_items"
        " FROM reviews WHERE phq9_total IS NOT NULL OR gad7_total IS NOT NULL ORDER BY at"
    )
    assert [(r["review_id"], r["phq9_items"], r["gad7_items"]) for r in rows] == [
        ("asmt-items", INTAKE_PHQ9, INTAKE_GAD7),
        ("link-items", None, PATIENT_GAD7),
        ("rev-items", REVIEW_PHQ9, PATIENT_GAD7),  # the patient's GAD-7, used by the review
    ]
    for r in rows:
        if r["phq9_items"] is not None:
            assert (r["phq9_total"], r["phq9_item9"]) == (sum(r["phq9_items"]), r["phq9_items"][8])
        if r["gad7_items"] is not None:
            assert r["gad7_total"] == sum(r["gad7_items"])

    records = await fhir_records(pool, case.engine.episode_id)
    assert records is not None
    bundle = episode_bundle(records, at=datetime(2026, 8, 1, tzinfo=UTC)).model_dump(mode="json")
    for entry in bundle["entry"]:  # every resource validates on its own
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    by_panel: dict[str, list[list[tuple[str, int]]]] = {}
    for response in _responses(bundle):
        panel = response["questionnaire"].rsplit("/", 1)[1]
        by_panel.setdefault(panel, []).append(_answers(response))
    assert by_panel["44249-1"] == [
        [*zip(PHQ9_CODES, INTAKE_PHQ9, strict=True), ("44261-6", sum(INTAKE_PHQ9))],
        [*zip(PHQ9_CODES, REVIEW_PHQ9, strict=True), ("44261-6", sum(REVIEW_PHQ9))],
    ]
    assert by_panel["69737-5"] == [
        [*zip(GAD7_CODES, INTAKE_GAD7, strict=True), ("70274-6", sum(INTAKE_GAD7))],
        [*zip(GAD7_CODES, PATIENT_GAD7, strict=True), ("70274-6", sum(PATIENT_GAD7))],
        [*zip(GAD7_CODES, PATIENT_GAD7, strict=True), ("70274-6", sum(PATIENT_GAD7))],
    ]


async def test_a_row_without_item_answers_keeps_the_total_and_item_9(pool: asyncpg.Pool) -> None:
    old = ReviewRecord.model_validate(  # a batch queued before the item answers were kept
        {
            "review_id": "r-old",
            "kind": "review",
            "clinician_id": "clin-1",
            "at": T0.isoformat(),
            "phq9_total": 14,
            "phq9_item9": 1,
            "gad7_total": 9,
        }
    )
    assert (old.phq9_items, old.gad7_items) == (None, None)
    await PostgresRecordStore(pool).apply(batch(1, snapshot(), reviews=[old]))
    records = await fhir_records(pool, "ep1")
    assert records is not None
    bundle = episode_bundle(records, at=T0).model_dump(mode="json")
    for r in _responses(bundle):
        get_fhir_model_class("QuestionnaireResponse").model_validate(r)
    assert sorted(_answers(r) for r in _responses(bundle)) == [
        [("44260-8", 1), ("44261-6", 14)],
        [("70274-6", 9)],
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"phq9_items": [0] * 8},
        {"phq9_items": [0] * 8 + [4]},
        {"gad7_items": [0] * 9},
        {"gad7_items": [0, 1, 2, 3, -1, 0, 0]},
    ],
)
def test_the_record_refuses_item_answers_of_the_wrong_length_or_range(
    changes: dict[str, Any],
) -> None:
    base = {"review_id": "r1", "kind": "review", "clinician_id": "c1", "at": T0}
    with pytest.raises(ValidationError):
        ReviewRecord.model_validate({**base, **changes})


@pytest.mark.parametrize(
    ("column", "value", "item9"),
    [
        ("phq9_items", [0] * 8, None),
        ("phq9_items", [0] * 10, None),
        ("phq9_items", [0] * 8 + [4], None),
        ("phq9_items", [0] * 8 + [None], None),
        ("phq9_items", [0] * 8 + [2], 1),  # the ninth answer is item 9
        ("gad7_items", [0] * 6, None),
        ("gad7_items", [0] * 6 + [-1], None),
    ],
)
async def test_the_table_refuses_item_answers_out_of_shape(
    pool: asyncpg.Pool, column: str, value: list[int | None], item9: int | None
) -> None:
    await PostgresRecordStore(pool).apply(batch(1, snapshot()))
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            f"""INSERT INTO reviews (episode_id, workflow_id, seq, ordinal, review_id, kind,
                clinician_id, at, phq9_item9, {column})
            VALUES ('ep1', 'care-episode-ep1', 9, 0, 'r-bad', 'review', 'c1', $1, $2, $3)""",
            T0,
            item9,
            value,
        )
    assert await pool.fetchval("SELECT count(*) FROM reviews") == 0
