"""CHECK constraints generated from the enums the rules use, so the database and the code
can never disagree about which phases, levels and events exist.

Each constraint carries a comment with a fingerprint of its value list; `sync_enum_checks`
replaces a constraint only when the enum changed, so running it on every start is cheap.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from rules.levels import LevelOfCare
from rules.messaging import CallbackOutcome, TaskKind
from rules.transitions import CarePhase, Event
from schemas.quality import ClockStatus, QualityMeasure
from schemas.records import Recipient, Urgency
from schemas.submissions import AlertResponse
from store.dbtypes import Conn


@dataclass(frozen=True)
class EnumCheck:
    table: str
    column: str
    enum: type[StrEnum]

    @property
    def name(self) -> str:
        return f"{self.table}_{self.column}_enum"

    @property
    def values(self) -> list[str]:
        return sorted(member.value for member in self.enum)

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256("\n".join(self.values).encode()).hexdigest()[:16]
        return f"carepath-enum:{self.enum.__name__}:{digest}"

    def definition(self) -> str:
        literals = ", ".join(_quote_literal(v) for v in self.values)
        return f'CHECK ("{self.column}" IN ({literals}))'


ENUM_CHECKS: tuple[EnumCheck, ...] = (
    EnumCheck("episodes", "phase", CarePhase),
    EnumCheck("episodes", "level_authorized", LevelOfCare),
    EnumCheck("episodes", "level_delivered", LevelOfCare),
    EnumCheck("transitions", "from_phase", CarePhase),
    EnumCheck("transitions", "to_phase", CarePhase),
    EnumCheck("transitions", "event", Event),
    EnumCheck("transitions", "level_delivered", LevelOfCare),
    EnumCheck("transitions", "level_authorized", LevelOfCare),
    EnumCheck("reviews", "level", LevelOfCare),
    EnumCheck("authorizations", "level", LevelOfCare),
    EnumCheck("notification_outbox", "recipient_role", Recipient),
    EnumCheck("notification_outbox", "urgency", Urgency),
    EnumCheck("quality_clocks", "measure", QualityMeasure),
    EnumCheck("quality_clocks", "status", ClockStatus),
    EnumCheck("care_team_tasks", "kind", TaskKind),
    EnumCheck("care_team_tasks", "callback_outcome", CallbackOutcome),
    EnumCheck("care_team_tasks", "ack_response", AlertResponse),
)


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def sync_enum_checks(conn: Conn, checks: tuple[EnumCheck, ...] = ENUM_CHECKS) -> int:
    """Create or replace each generated CHECK whose enum changed; returns how many changed."""
    changed = 0
    async with conn.transaction():
        for check in checks:
            if await conn.fetchval("SELECT to_regclass($1)", check.table) is None:
                continue  # a table a later migration creates (a partial migrations folder)
            current = await conn.fetchval(
                """
                SELECT obj_description(c.oid, 'pg_constraint')
                FROM pg_constraint c
                WHERE c.conname = $1 AND c.conrelid = to_regclass($2)
                """,
                check.name,
                check.table,
            )
            if current == check.fingerprint:
                continue
            await conn.execute(
                f'ALTER TABLE "{check.table}" DROP CONSTRAINT IF EXISTS "{check.name}", '
                f'ADD CONSTRAINT "{check.name}" {check.definition()}'
            )
            await conn.execute(
                f'COMMENT ON CONSTRAINT "{check.name}" ON "{check.table}" IS '
                f"{_quote_literal(check.fingerprint)}"
            )
            changed += 1
    return changed
