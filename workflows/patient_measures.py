"""Questionnaires the patient answered by link: recorded on the episode like a clinician's
scores, and a PHQ-9 item 9 above zero raises `risk` and the urgent alert in the same
workflow task, exactly as a clinician-entered score does."""

from __future__ import annotations

from datetime import datetime

from rules import instruments
from rules.recommendation import risk_reasons
from rules.transitions import Action, Event
from schemas.records import ReviewRecord
from schemas.submissions import PATIENT_ACTOR, PatientMeasureSubmission
from schemas.view import EngineDecision
from workflows.safety import SafetyMixin


class PatientMeasuresMixin(SafetyMixin):
    def _resolve_patient_measure(self, _sub: PatientMeasureSubmission) -> Event:
        return self._ensure_allowed(Event.PATIENT_MEASURE_RECORDED, Action.SUBMIT_PATIENT_MEASURE)

    def _apply_patient_measure(
        self, sub: PatientMeasureSubmission, event: Event, now: datetime
    ) -> EngineDecision:
        s = self.state
        phq9 = gad7 = None
        reasons: list[str] = []
        if sub.phq9 is not None:
            items = list(sub.phq9.items)
            phq9 = instruments.phq9_total(items)
            s.patient_phq9 = items
            self_harm = instruments.phq9_self_harm(items)
            reasons = risk_reasons(self_harm=self_harm, cssrs_risk=None)
        if sub.gad7 is not None:
            s.patient_gad7 = list(sub.gad7.items)
            gad7 = instruments.gad7_total(sub.gad7.items)
        if reasons:
            self._open_risk(now)
            self._safety_alert(reasons)
        s.reviews.append(
            ReviewRecord(
                review_id=sub.submission_id,
                kind="patient_measure",
                clinician_id=PATIENT_ACTOR,
                at=now,
                level=s.delivered_level,
                phq9_total=phq9,
                phq9_item9=sub.phq9.items[8] if sub.phq9 else None,
                phq9_items=list(sub.phq9.items) if sub.phq9 else None,
                gad7_total=gad7,
                gad7_items=list(sub.gad7.items) if sub.gad7 else None,
                reasons=reasons,
            )
        )
        self._move(event, now, PATIENT_ACTOR)
        decision = self._decision(sub.submission_id, reasons=reasons)
        return decision.model_copy(update={"urgent": bool(reasons)})
