"""PostgresRecordStore: one transaction per batch, written once, never rolled back by age."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import pytest

from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from schemas.records import EffectBatch
from store.postgres import PostgresRecordStore
from tests.store.store_builders import T0, authorization, batch, move, note, review, snapshot

P = CarePhase
E = Event


async def _counts(pool: asyncpg.Pool) -> dict[str, int]:
    tables = ["episodes", "transitions", "reviews", "authorizations", "notification_outbox"]
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


async def test_the_same_batch_twice_writes_one_set_of_rows(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    b = batch(
        1,
        snapshot(phase=P.IN_TREATMENT, delivered_level=LevelOfCare.IOP),
        transitions=[move(P.AUTHORIZATION, P.IN_TREATMENT, E.AUTH_APPROVED, T0, LevelOfCare.IOP)],
        reviews=[review("r1", T0, 14, hours_attended=9.5)],
        authorizations=[authorization("A-1")],
        notifications=[note("care-episode-ep1:1:0")],
    )
    await store.apply(b)
    await store.apply(b)
    assert await _counts(pool) == {
        "episodes": 1,
        "transitions": 1,
        "reviews": 1,
        "authorizations": 1,
        "notification_outbox": 1,
    }
    row = await pool.fetchrow("SELECT hours_attended, phq9_total FROM reviews")
    assert row is not None
    assert (row["hours_attended"], row["phq9_total"]) == (9.5, 14)


async def test_an_older_snapshot_does_not_overwrite_a_newer_one(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    newer = snapshot(phase=P.IN_TREATMENT, updated_at=T0 + timedelta(hours=2), latest_phq9=8)
    older = snapshot(phase=P.INSURANCE_VERIFICATION, updated_at=T0 + timedelta(hours=1))
    await store.apply(batch(2, newer))
    await store.apply(batch(1, older))
    row = await pool.fetchrow("SELECT phase, latest_phq9, last_seq FROM episodes")
    assert row is not None
    assert (row["phase"], row["latest_phq9"], row["last_seq"]) == ("in_treatment", 8, 2)


async def test_same_instant_later_sequence_wins(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    await store.apply(batch(1, snapshot(phase=P.ASSESSMENT)))
    await store.apply(batch(2, snapshot(phase=P.INSURANCE_VERIFICATION)))
    assert await pool.fetchval("SELECT phase FROM episodes") == "insurance_verification"


async def test_authorizations_are_upserted_by_number(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    ep = snapshot(phase=P.IN_TREATMENT)
    await store.apply(
        batch(1, ep, authorizations=[authorization(None, status="initial_requested")])
    )
    await store.apply(batch(2, ep, authorizations=[authorization("A-1")]))
    later = T0 + timedelta(days=7)
    extended = authorization(
        "A-1", status="extension_approved", units_used=5, end_date=later.date() + timedelta(30)
    )
    await store.apply(batch(3, ep, authorizations=[extended.model_copy(update={"at": later})]))
    rows = await pool.fetch(
        "SELECT authorization_number, status, units_used FROM authorizations ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        (None, "initial_requested", 0),
        ("A-1", "extension_approved", 5),
    ]


async def test_a_refused_batch_leaves_none_of_its_records_behind(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    bad = move(P.ASSESSMENT, P.INSURANCE_VERIFICATION, E.ASSESSED_PROGRAM_LEVEL, T0)
    bad = bad.model_copy(update={"event": "not_an_event"})
    # A CHECK violation is about the data: the batch is parked (tests/store/test_store_parked.py)
    await store.apply(batch(1, snapshot(), transitions=[bad], notifications=[note("m1")]))
    assert await _counts(pool) == {
        **dict.fromkeys(["episodes", "transitions", "reviews", "authorizations"], 0),
        "notification_outbox": 1,
    }
    parked = await pool.fetchrow("SELECT seq, error_class FROM parked_batches")
    assert parked is not None and tuple(parked) == (1, "CheckViolationError")


async def test_transitions_are_append_only(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    step = move(P.REFERRAL, P.ASSESSMENT, E.REFERRAL_RECEIVED, T0)
    await store.apply(batch(1, snapshot(), transitions=[step]))
    with pytest.raises(asyncpg.RestrictViolationError):
        await pool.execute("UPDATE transitions SET actor = 'someone else'")
    with pytest.raises(asyncpg.RestrictViolationError):
        await pool.execute("DELETE FROM transitions")


async def test_clinical_detail_on_review_rows_is_kept(pool: asyncpg.Pool) -> None:
    """Issue 14: C-SSRS answers and triage, the safety assessment, a FUH visit — not dropped."""
    store = PostgresRecordStore(pool)
    screened = review(
        "r1",
        T0,
        9,
        cssrs_answers=[True, True, True, False, False, False],
        cssrs_behaviour_past_3_months=None,
        cssrs_risk="moderate",
        cssrs_high_risk=False,
    )
    assessed = review(
        "d1",
        T0,
        9,
        kind="decision",
        safety_instrument="C-SSRS",
        safety_result="low",
        safety_plan="safety plan reviewed",
    )
    visit = review("v1", T0, 9, kind="followup_visit", visit_date=T0.date(), visit_kind="iop")
    await store.apply(batch(1, snapshot(), reviews=[screened, assessed, visit]))
    rows = {
        r["review_id"]: r
        for r in await pool.fetch(
            "SELECT review_id, cssrs_answers, cssrs_risk, safety_instrument, safety_result,"
            " safety_plan, visit_date, visit_kind FROM reviews"
        )
    }
    assert rows["r1"]["cssrs_answers"] == [True, True, True, False, False, False]
    assert rows["r1"]["cssrs_risk"] == "moderate"
    assert (rows["d1"]["safety_instrument"], rows["d1"]["safety_result"]) == ("C-SSRS", "low")
    assert rows["d1"]["safety_plan"] == "safety plan reviewed"
    assert (rows["v1"]["visit_date"], rows["v1"]["visit_kind"]) == (T0.date(), "iop")


def test_a_batch_queued_before_the_level_names_were_unified_still_reads() -> None:
    """Activity inputs recorded with `level_delivered` / `level_authorized` (and parked
    batches' JSON) decode to the one name the code uses, and are written back with it."""
    written = batch(1, snapshot(delivered_level=LevelOfCare.IOP, authorized_level=LevelOfCare.IOP))
    old = json.loads(written.model_dump_json())
    old["episode"]["level_delivered"] = old["episode"].pop("delivered_level")
    old["episode"]["level_authorized"] = old["episode"].pop("authorized_level")
    read = EffectBatch.model_validate(old)
    assert read == written
    assert "level_delivered" not in read.model_dump_json()
