"""The search attributes operators filter on. None of them identifies a patient."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from rules.recommendation import Flag
from workflows.state import EpisodeState

CARE_PHASE = SearchAttributeKey.for_keyword("CarePhase")
LEVEL_OF_CARE = SearchAttributeKey.for_keyword("LevelOfCare")
PROGRAM_ID = SearchAttributeKey.for_keyword("ProgramId")
REVIEW_DUE_AT = SearchAttributeKey.for_datetime("ReviewDueAt")
RISK_FLAG = SearchAttributeKey.for_bool("RiskFlag")

ALL_KEYS: tuple[SearchAttributeKey[Any], ...] = (
    CARE_PHASE,
    LEVEL_OF_CARE,
    PROGRAM_ID,
    REVIEW_DUE_AT,
    RISK_FLAG,
)


def publishable(state: EpisodeState) -> dict[str, tuple[object, SearchAttributeUpdate[Any]]]:
    """Each attribute's wanted value with the update that sets (or unsets) it."""
    level = state.delivered_level or state.requested_level
    due: datetime | None = state.review.due if state.review else None
    return {
        "CarePhase": (state.phase.value, CARE_PHASE.value_set(state.phase.value)),
        "LevelOfCare": (
            level.value if level else None,
            LEVEL_OF_CARE.value_set(level.value) if level else LEVEL_OF_CARE.value_unset(),
        ),
        "ProgramId": (state.start.program_id, PROGRAM_ID.value_set(state.start.program_id)),
        "ReviewDueAt": (due, REVIEW_DUE_AT.value_set(due) if due else REVIEW_DUE_AT.value_unset()),
        "RiskFlag": (Flag.RISK in state.flags, RISK_FLAG.value_set(Flag.RISK in state.flags)),
    }
