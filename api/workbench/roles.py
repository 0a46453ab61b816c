"""Which person roles may open which page or send which form: one table each.

Submissions keep the API's own rules: a person's role maps to the API role recorded on
the audit row (`api_calls.role`), and the engine checks the phase as it does for a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from api.settings import Role
from api.workbench.accounts import PersonRole

P = PersonRole


class Page(StrEnum):
    TODAY = "today"
    CENSUS = "census"
    EPISODE = "episode"
    UR_QUEUE = "ur_queue"


PAGE_ROLES: Final[Mapping[Page, frozenset[PersonRole]]] = {
    Page.TODAY: frozenset(PersonRole),
    Page.CENSUS: frozenset(PersonRole),
    Page.EPISODE: frozenset(PersonRole),
    Page.UR_QUEUE: frozenset({P.UTILIZATION_REVIEW, P.SUPERVISOR, P.PROGRAM_ADMIN, P.OPERATOR}),
}

# The API role a person's submission is recorded under (roles absent here submit nothing).
API_ROLE: Final[Mapping[PersonRole, Role]] = {
    P.CARE_TEAM: Role.CARE_TEAM,
    P.UTILIZATION_REVIEW: Role.UTILIZATION_REVIEW,
}
