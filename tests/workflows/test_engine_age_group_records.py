"""Issue 14 item 17 (engine V4): an adolescent's age group follows the 18th birthday with no
birthday in Temporal. The workflow asks the records (`CareActivities.age_group_on`) at
enrolment and after each review whether the patient is an adult on the program's local
date; the answer is the age group alone. Runs whose start names `adult_on` keep its timer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from activities.care import CareActivities
from activities.memory import InMemoryRecordStore
from activities.patients import InMemoryPatients
from activities.payer_sandbox import SandboxPayer
from rules.levels import AgeGroup
from rules.policy import ProgramPolicy
from schemas.episode import AgeGroupCheck, EpisodeStart, PatientRef
from store.patients import eighteenth_birthday
from tests.workflows.engine_cases import T0, Case
from tests.workflows.engine_loop import LoopCase
from workflows.state import ENGINE_V3, CommandKind


def _age_checks(case: Case) -> list[CommandKind]:
    return [c.kind for c in case.state.commands if c.kind is CommandKind.CHECK_AGE_GROUP]


def test_the_age_group_changes_at_the_first_review_after_the_birthday() -> None:
    case = LoopCase.admit(age_group=AgeGroup.ADOLESCENT)
    episode = case.engine.episode_id
    case.adapters.patients.adults[episode] = T0.date() + timedelta(days=10)
    case.enrolled()
    assert case.adapters.patients.age_lookups.count(episode) == 1, "asked at enrolment"
    case.until_review()
    first = case.review(12, hours=7)  # the adolescent IOP minimum is 6 h
    assert "attendance_below_minimum" not in first.reasons
    assert case.view().age_group is AgeGroup.ADOLESCENT, "17 on the day of the first review"

    case.until_review()  # past the birthday: nobody asks between reviews
    assert case.view().age_group is AgeGroup.ADOLESCENT
    second = case.review(12, hours=7)  # the week of the birthday, judged as it began
    assert "attendance_below_minimum" not in second.reasons
    assert case.view().age_group is AgeGroup.ADULT, "the records said adult after the review"
    assert case.sent("care_team").count("age_group_changed") == 1
    [told] = [m for m in case.messages() if m.template == "age_group_changed"]
    assert told.params == {"age_group": "adult"}

    case.until_review()
    third = case.review(12, hours=7)  # now below the adult 9 h
    assert "attendance_below_minimum" in third.reasons
    assert case.adapters.patients.age_lookups.count(episode) == 3, "no more questions once adult"


def test_no_birthday_on_file_keeps_the_age_group_and_tells_no_one() -> None:
    case = LoopCase.admit(age_group=AgeGroup.ADOLESCENT)
    case.enrolled()
    case.until_review()
    case.review(12, hours=7)
    assert case.view().age_group is AgeGroup.ADOLESCENT
    assert "age_group_changed" not in case.sent("care_team")


def test_the_question_names_the_programs_local_day() -> None:
    la = ProgramPolicy(time_zone="America/Los_Angeles")
    case = Case.new(age_group=AgeGroup.ADOLESCENT, policy=la)
    case.now = datetime(2026, 3, 3, 6, 30, tzinfo=UTC)  # 22:30 on 2 March in Los Angeles
    case.enrolled()
    assert _age_checks(case) == [CommandKind.CHECK_AGE_GROUP]
    check = case.engine.age_group_check(case.now)
    assert check == AgeGroupCheck(episode_id=case.engine.episode_id, on=date(2026, 3, 2))


def test_adults_v3_runs_and_starts_naming_the_birthday_ask_nothing() -> None:
    adult = Case.new()
    adult.enrolled()
    assert _age_checks(adult) == []
    v3 = Case.new(age_group=AgeGroup.ADOLESCENT)
    v3.state.engine_version = ENGINE_V3
    v3.enrolled()
    assert _age_checks(v3) == []
    carried = Case.new(age_group=AgeGroup.ADOLESCENT, adult_on=T0.date() + timedelta(days=3))
    carried.enrolled()
    assert _age_checks(carried) == [], "an older start's adult_on keeps its timer"
    carried.later(days=4)
    assert carried.engine.age_group() is AgeGroup.ADULT


def test_an_adult_answer_for_an_adult_changes_nothing() -> None:
    case = Case.new()
    case.engine.age_group_checked(AgeGroup.ADULT, case.now)
    case.engine.age_group_checked(None, case.now)
    assert "age_group_changed" not in case.templates()


@pytest.mark.parametrize(
    ("birth", "eighteen"),
    [(date(2008, 6, 15), date(2026, 6, 15)), (date(2008, 2, 29), date(2026, 3, 1))],
)
def test_the_18th_birthday(birth: date, eighteen: date) -> None:
    assert eighteenth_birthday(birth) == eighteen


async def test_the_activity_answers_the_age_group_alone_from_the_records() -> None:
    patients = InMemoryPatients()
    start = EpisodeStart(
        episode_id="ep-teen",
        program_id="p1",
        age_group=AgeGroup.ADOLESCENT,
        patient=PatientRef(patient_ref="MRN-TEEN", birth_date=date(2008, 6, 15)),
    )
    patients.register(start)
    only_adult_on = start.model_copy(
        update={
            "episode_id": "ep-adult-on",
            "patient": PatientRef(patient_ref="MRN-2"),
            "adult_on": date(2026, 9, 1),
        }
    )
    patients.register(only_adult_on)
    activities = CareActivities(InMemoryRecordStore(), SandboxPayer(), patients)

    async def on(episode: str, day: date) -> AgeGroup | None:
        return await activities.age_group_on(AgeGroupCheck(episode_id=episode, on=day))

    assert await on("ep-teen", date(2026, 6, 14)) is AgeGroup.ADOLESCENT
    assert await on("ep-teen", date(2026, 6, 15)) is AgeGroup.ADULT
    assert await on("ep-adult-on", date(2026, 8, 31)) is AgeGroup.ADOLESCENT
    assert await on("ep-adult-on", date(2026, 9, 1)) is AgeGroup.ADULT
    assert await on("ep-unknown", date(2026, 9, 1)) is None
    without_store = CareActivities(InMemoryRecordStore(), SandboxPayer())
    assert (
        await without_store.age_group_on(AgeGroupCheck(episode_id="ep-teen", on=T0.date())) is None
    )


def test_the_start_the_workflow_gets_names_no_birthday() -> None:
    body = EpisodeStart(
        episode_id="ep-teen",
        program_id="p1",
        age_group=AgeGroup.ADOLESCENT,
        adult_on=date(2026, 9, 1),  # still accepted in the body (kept in PostgreSQL)
        patient=PatientRef(patient_ref="MRN-TEEN"),
    )
    engine_start = body.for_engine("pt_abc")
    assert engine_start.adult_on is None
    assert "2026-09-01" not in engine_start.model_dump_json()
