"""Engine V3 (issue 14 item 6): a closure the engine makes sets up the patient's next
step, instead of only telling the care team: a referral record in the episode's timeline,
a care-team task to carry it out (urgent, and the supervisor's too, when `risk` is open),
and a content-free message so the patient hears from the care team.
"""

from __future__ import annotations

from datetime import datetime

from rules.transitions import Event
from schemas.records import Recipient, ReviewRecord
from workflows.engine_core import ENGINE, PATIENT_TEMPLATE
from workflows.safety import SafetyMixin
from workflows.state import ENGINE_V3

# What the referral is for, by the closure that calls for it.
NEXT_STEP: dict[Event, str] = {
    # Never covered or never approved: care the patient can have elsewhere.
    Event.FINANCIAL_HOLD_EXPIRED: "refer_to_community_care",
    Event.APPEAL_WINDOW_CLOSED: "refer_to_community_care",
    # Referred out and never heard back: confirm the patient reached that care.
    Event.EXTERNAL_WAIT_EXPIRED: "confirm_external_care",
}
SAFETY_FOLLOW_UP = "refer_for_safety_follow_up"


class ClosureReferralMixin(SafetyMixin):
    def _refer_on_closure(self, event: Event, now: datetime) -> None:
        """Set up the referral an engine-driven closure calls for (engine V3 runs only);
        an open risk flag always calls for one (a safety follow-up comes first)."""
        s = self.state
        if s.engine_version < ENGINE_V3:
            return
        risk = self._risk_open
        step = SAFETY_FOLLOW_UP if risk else NEXT_STEP.get(event)
        if step is None:
            return
        referral_id = f"referral-{event.value}"
        s.reviews.append(
            ReviewRecord(
                review_id=referral_id,
                kind="referral",
                clinician_id=ENGINE,
                at=now,
                level=s.delivered_level,
                decision=step,
                reasons=[event.value, *(["risk_open"] if risk else [])],
            )
        )
        for who in (Recipient.CARE_TEAM, *((Recipient.SUPERVISOR,) if risk else ())):
            self._notify(
                who,
                "referral_needed",
                urgent=risk,
                reason=event.value,
                next_step=step,
                referral_id=referral_id,
            )
        self._notify(Recipient.PATIENT, PATIENT_TEMPLATE)
