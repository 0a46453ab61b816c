"""A follow-up questionnaire answered after the close (followup_measures) reaches the
episode's Bundle as a QuestionnaireResponse with every item (PHQ-9: nine, GAD-7: seven),
each with its LOINC code, and validates with fhir.resources; a review row without item
answers (recorded before migration 0720) keeps the total and item 9."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from fhir.resources.R4B import get_fhir_model_class

from api.reports.fhir_bundle import episode_bundle
from api.reports.fhir_items import GAD7_ITEMS, PHQ9_ITEMS
from store.fhir_records import fhir_records
from tests.reports.report_seed import FOLLOWUP_COLUMNS

AT = datetime(2026, 1, 5, 9, tzinfo=UTC)
PHQ9 = [1, 2, 0, 3, 1, 0, 2, 1, 1]
GAD7 = [0, 1, 2, 3, 0, 1, 2]


async def _seed(pool: asyncpg.Pool) -> None:
    await pool.execute(
        """INSERT INTO episodes (episode_id, workflow_id, program_id, phase, started_at,
            closed_at, updated_at, last_seq)
        VALUES ('ep1', 'care-episode-ep1', 'p1', 'closed', $1, $1, $1, 1)""",
        AT,
    )
    await pool.execute(
        """INSERT INTO reviews (episode_id, workflow_id, seq, ordinal, review_id, kind,
            clinician_id, at, phq9_total, phq9_item9)
        VALUES ('ep1', 'care-episode-ep1', 1, 0, 'r1', 'review', 'c1', $1, 14, 1)""",
        AT,
    )
    rows = []
    for kind, instrument, answers in (("6_month", "phq9", PHQ9), ("12_month", "gad7", GAD7)):
        answered = datetime(2026, 7, 1 if kind == "6_month" else 2, 9, tzinfo=UTC)
        values: dict[str, Any] = {
            "episode_id": "ep1",
            "due_kind": kind,
            "program_id": "p1",
            "instrument": instrument,
            "index_date": AT.date(),
            "window_opens": AT.date(),
            "window_closes": AT.date(),
            "due_on": AT.date(),
            "status": "answered",
            "total": sum(answers),
            "answers": str(answers),
            "answered_at": answered,
            "closed_at": None,
            "scheduled_at": AT,
            "updated_at": answered,
        }
        rows.append(tuple(values[c] for c in FOLLOWUP_COLUMNS))
    await pool.executemany(
        f"INSERT INTO followup_measures ({', '.join(FOLLOWUP_COLUMNS)}) VALUES "
        f"({', '.join(f'${i + 1}' for i in range(len(FOLLOWUP_COLUMNS)))})",
        rows,
    )
    await pool.execute("UPDATE followup_measures SET item9 = 1 WHERE instrument = 'phq9'")


async def test_follow_up_answers_give_every_item(pool: asyncpg.Pool) -> None:
    await _seed(pool)
    records = await fhir_records(pool, "ep1")
    assert records is not None
    bundle = episode_bundle(records, at=datetime(2026, 8, 1, tzinfo=UTC))
    responses: list[dict[str, Any]] = [
        e["resource"]
        for e in bundle.model_dump(mode="json")["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    ]
    for r in responses:  # each validates on its own too
        get_fhir_model_class("QuestionnaireResponse").model_validate(r)
    # The review: item 9 + total; the PHQ-9 follow-up: 9 + total; the GAD-7: 7 + total.
    assert sorted(len(r["item"]) for r in responses) == [2, 8, 10]
    phq9 = next(r for r in responses if len(r["item"]) == 10)
    assert [i["linkId"] for i in phq9["item"]][:9] == [code for code, _ in PHQ9_ITEMS]
    assert [i["answer"][0]["valueInteger"] for i in phq9["item"]] == [*PHQ9, sum(PHQ9)]
    gad7 = next(r for r in responses if len(r["item"]) == 8)
    assert [i["linkId"] for i in gad7["item"]][:7] == [code for code, _ in GAD7_ITEMS]
    assert [i["answer"][0]["valueInteger"] for i in gad7["item"]] == [*GAD7, sum(GAD7)]
    assert "author" not in phq9  # the patient answered: no clinician
