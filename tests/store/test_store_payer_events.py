"""The payer path's newer events and statuses are stored by real PostgreSQL: the CHECK
constraints generated from the transition table's enums accept every one of them."""

from __future__ import annotations

import asyncpg

from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from schemas.records import AuthorizationStatus
from store.postgres import PostgresRecordStore
from tests.store.store_builders import T0, authorization, batch, move, snapshot

P = CarePhase
E = Event
NEW_EVENTS = [
    (P.IN_TREATMENT, P.IN_TREATMENT, E.LEVEL_CHANGE_REQUESTED),
    (P.IN_TREATMENT, P.IN_TREATMENT, E.LEVEL_CHANGE_APPROVED),
    (P.IN_TREATMENT, P.IN_TREATMENT, E.LEVEL_CHANGE_DENIED),
    (P.APPEAL, P.APPEAL, E.APPEAL_FILED),
    (P.IN_TREATMENT, P.IN_TREATMENT, E.APPEAL_UPHELD),
    (P.AUTHORIZATION, P.AUTHORIZATION, E.DISCLOSURE_CONSENT_RECORDED),
    (P.APPEAL, P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH),
]


async def test_new_payer_events_and_the_appeal_filed_status_are_written(
    pool: asyncpg.Pool,
) -> None:
    store = PostgresRecordStore(pool)
    b = batch(
        1,
        snapshot("ep-payer", phase=P.IN_TREATMENT, delivered_level=LevelOfCare.IOP),
        transitions=[
            move(source, target, event, T0, LevelOfCare.IOP) for source, target, event in NEW_EVENTS
        ],
        authorizations=[authorization(None, status=AuthorizationStatus.APPEAL_FILED)],
    )

    await store.apply(b)

    events = await pool.fetch(
        "SELECT event FROM transitions WHERE episode_id = 'ep-payer' ORDER BY at, event"
    )
    assert sorted(r["event"] for r in events) == sorted(e.value for _, _, e in NEW_EVENTS)
    status = await pool.fetchval("SELECT status FROM authorizations WHERE episode_id = 'ep-payer'")
    assert status == "appeal_filed"
