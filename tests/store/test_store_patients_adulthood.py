"""The 18th birthday in the patients table (migration 0510, engine V4): from the birth date,
else the start's `adult_on`, kept beside the patient and read by the age-group activity;
a carried older start gives its `adult_on` to a row that has none."""

from __future__ import annotations

from datetime import date

import asyncpg

from rules.levels import AgeGroup
from schemas.episode import Coverage, EpisodeStart, PatientRef
from store.patients import PostgresPatients


def _teen(
    episode_id: str, *, birth: date | None = None, adult_on: date | None = None
) -> EpisodeStart:
    return EpisodeStart(
        episode_id=episode_id,
        program_id="iop-teens",
        age_group=AgeGroup.ADOLESCENT,
        adult_on=adult_on,
        patient=PatientRef(patient_ref=f"MRN-{episode_id}", birth_date=birth),
    )


async def test_the_first_adult_day_comes_from_the_birth_date_or_adult_on(
    pool: asyncpg.Pool,
) -> None:
    patients = PostgresPatients(pool)
    for start in (
        _teen("ep-born", birth=date(2008, 2, 29), adult_on=date(2030, 1, 1)),
        _teen("ep-adult-on", adult_on=date(2026, 9, 1)),
        _teen("ep-neither"),
    ):
        await patients.register_start(start, start.fingerprint())
    assert await patients.adult_from("ep-born") == date(2026, 3, 1), "the birth date wins"
    assert await patients.adult_from("ep-adult-on") == date(2026, 9, 1)
    assert await patients.adult_from("ep-neither") is None
    assert await patients.adult_from("ep-no-row") is None
    record = await patients.get("ep-adult-on")
    assert record is not None and record.adult_on == date(2026, 9, 1)


async def test_a_carried_start_gives_its_birthday_to_a_row_without_one(
    pool: asyncpg.Pool,
) -> None:
    patients = PostgresPatients(pool)
    through_api = _teen("ep-carried")  # stored before the column: no adult_on
    registered = await patients.register_start(through_api, through_api.fingerprint())
    carried = through_api.for_engine(registered.patient_key).model_copy(
        update={"adult_on": date(2026, 9, 1)}
    )
    assert await patients.keep_carried(carried) == registered.patient_key
    assert await patients.adult_from("ep-carried") == date(2026, 9, 1)
    later = carried.model_copy(update={"adult_on": date(2027, 1, 1)})
    await patients.keep_carried(later)
    assert await patients.adult_from("ep-carried") == date(2026, 9, 1), "a stored one stays"
    record = await patients.get("ep-carried")
    assert record is not None and record.mrn == "MRN-ep-carried", "the rest stays as stored"


async def test_a_carried_member_id_fills_a_row_without_one(pool: asyncpg.Pool) -> None:
    patients = PostgresPatients(pool)
    through_api = _teen("ep-member")  # no coverage in the row
    registered = await patients.register_start(through_api, through_api.fingerprint())
    carried = through_api.for_engine(registered.patient_key).model_copy(
        update={"coverage": Coverage(payer_id="SANDBOX", member_id="M-CARRIED-1")}
    )
    await patients.keep_carried(carried)
    subscriber = await patients.subscriber("ep-member")
    assert subscriber is not None and subscriber.member_id == "M-CARRIED-1"
    other = carried.model_copy(update={"coverage": Coverage(payer_id="X", member_id="M-2")})
    await patients.keep_carried(other)
    record = await patients.get("ep-member")
    assert record is not None and (record.payer_id, record.member_id) == ("SANDBOX", "M-CARRIED-1")
