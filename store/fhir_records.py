"""One episode's care records as the FHIR Bundle needs them: the episode row, its
transitions, its scored reviews and C-SSRS results, its attended sessions and its payer.
Reads PostgreSQL only (never Temporal). Named for its one reader, the FHIR export
(api/reports/fhir_bundle.py); `api.episode_records` is the API's read port for episodes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from store.dbtypes import Db


@dataclass(frozen=True)
class FhirRecords:
    episode: dict[str, object]
    transitions: list[dict[str, object]]
    scores: list[dict[str, object]]
    sessions: list[dict[str, object]]
    payer_id: str | None
    clinicians: list[str]
    level_since: datetime | None


async def fhir_records(db: Db, episode_id: str) -> FhirRecords | None:
    episode = await db.fetchrow(
        """SELECT episode_id, program_id, phase, outcome, level_authorized, level_delivered,
            started_at, closed_at, next_review_due, updated_at
        FROM episodes WHERE episode_id = $1""",
        episode_id,
    )
    if episode is None:
        return None
    transitions = await db.fetch(
        """SELECT at, from_phase, to_phase, event, level_delivered FROM transitions
        WHERE episode_id = $1 ORDER BY at, seq, ordinal""",
        episode_id,
    )
    scores = await db.fetch(
        """SELECT review_id, kind, at, clinician_id, phq9_total, phq9_item9, phq9_items,
            gad7_total, gad7_items
        FROM reviews
        WHERE episode_id = $1 AND (phq9_total IS NOT NULL OR gad7_total IS NOT NULL)
        ORDER BY at, seq, ordinal""",
        episode_id,
    )
    # The 6- and 12-month questionnaires answered after the close, with every item.
    followups = await db.fetch(
        """SELECT 'followup-' || due_kind AS review_id, 'followup_questionnaire' AS kind,
            answered_at AS at, NULL::text AS clinician_id, instrument, total, item9,
            answers::text AS answers
        FROM followup_measures
        WHERE episode_id = $1 AND status = 'answered'
        ORDER BY answered_at""",
        episode_id,
    )
    sessions = await db.fetch(
        """SELECT s.session_id, s.starts_at, a.minutes, a.modality, a.status, g.level
        FROM attendance a
        JOIN group_sessions s ON s.session_id = a.session_id
        JOIN care_groups g ON g.group_id = s.group_id
        WHERE a.episode_id = $1 AND a.status IN ('attended', 'partial')
        ORDER BY s.starts_at""",
        episode_id,
    )
    payer_id = await db.fetchval(
        """SELECT payer_id FROM authorizations WHERE episode_id = $1 AND payer_id IS NOT NULL
        ORDER BY recorded_at DESC, id DESC LIMIT 1""",
        episode_id,
    )
    clinicians = await db.fetch(
        """SELECT clinician_id FROM reviews WHERE episode_id = $1
        GROUP BY clinician_id ORDER BY min(at)""",
        episode_id,
    )
    level = episode["level_delivered"]
    level_since = None
    if level is not None:
        level_since = await db.fetchval(
            """SELECT min(at) FROM transitions
            WHERE episode_id = $1 AND level_delivered = $2
              AND at > coalesce((SELECT max(at) FROM transitions WHERE episode_id = $1
                                 AND level_delivered IS DISTINCT FROM $2), '-infinity')""",
            episode_id,
            level,
        )
    return FhirRecords(
        episode=dict(episode),
        transitions=[dict(t) for t in transitions],
        scores=[dict(s) for s in scores] + [_followup_score(dict(f)) for f in followups],
        sessions=[dict(s) for s in sessions],
        payer_id=payer_id,
        clinicians=[str(c["clinician_id"]) for c in clinicians],
        level_since=level_since,
    )


def _followup_score(row: dict[str, object]) -> dict[str, object]:
    """A follow-up questionnaire's answer as a score row, with its item answers."""
    phq9 = row["instrument"] == "phq9"
    answers = [int(a) for a in json.loads(str(row["answers"]))]
    return {
        "review_id": row["review_id"],
        "kind": row["kind"],
        "at": row["at"],
        "clinician_id": None,
        "phq9_total": row["total"] if phq9 else None,
        "phq9_item9": row["item9"] if phq9 else None,
        "gad7_total": None if phq9 else row["total"],
        "phq9_items" if phq9 else "gad7_items": answers,
    }
