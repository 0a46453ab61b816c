"""Small builders for effect batches, so tests state only what they care about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from schemas.records import (
    AuthorizationRecord,
    EffectBatch,
    EpisodeSnapshot,
    NotificationRequest,
    Recipient,
    ReviewRecord,
    TransitionRecord,
)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def snapshot(episode_id: str = "ep1", **changes: Any) -> EpisodeSnapshot:
    base: dict[str, Any] = {
        "episode_id": episode_id,
        "program_id": "prog-a",
        "phase": CarePhase.ASSESSMENT,
        "outcome": None,
        "authorized_level": None,
        "delivered_level": None,
        "started_at": T0,
        "closed_at": None,
        "next_review_due": None,
        "risk_flag": False,
        "baseline_phq9": None,
        "latest_phq9": None,
        "updated_at": T0,
    }
    base.update(changes)
    return EpisodeSnapshot.model_validate(base)


def move(
    from_phase: CarePhase,
    to_phase: CarePhase,
    event: Event,
    at: datetime,
    level: LevelOfCare | None = None,
) -> TransitionRecord:
    return TransitionRecord(
        from_phase=from_phase,
        to_phase=to_phase,
        event=event.value,
        reason=event.value,
        actor="clinician:c1",
        at=at,
        delivered_level=level,
        authorized_level=level,
    )


def review(review_id: str, at: datetime, phq9: int, **changes: Any) -> ReviewRecord:
    return ReviewRecord.model_validate(
        {
            "review_id": review_id,
            "kind": "review",
            "clinician_id": "c1",
            "at": at,
            "phq9_total": phq9,
            **changes,
        }
    )


def authorization(number: str | None, **changes: Any) -> AuthorizationRecord:
    base: dict[str, Any] = {
        "authorization_number": number,
        "payer_id": "payer-1",
        "level": LevelOfCare.IOP,
        "status": "approved",
        "unit_type": "days",
        "units_approved": 20,
        "units_used": 0,
        "start_date": T0.date(),
        "end_date": (T0 + timedelta(days=27)).date(),
        "at": T0,
    }
    base.update(changes)
    return AuthorizationRecord.model_validate(base)


def note(message_id: str, episode_id: str = "ep1", **changes: Any) -> NotificationRequest:
    base: dict[str, Any] = {
        "message_id": message_id,
        "episode_id": episode_id,
        "program_id": "prog-a",
        "recipient": Recipient.CARE_TEAM,
        "template": "review_due",
        "params": {"due": "2025-03-10"},
    }
    base.update(changes)
    return NotificationRequest.model_validate(base)


def batch(seq: int, episode: EpisodeSnapshot, **parts: Any) -> EffectBatch:
    return EffectBatch(
        workflow_id=f"care-episode-{episode.episode_id}",
        run_id="run-1",
        seq=seq,
        episode=episode,
        **parts,
    )
