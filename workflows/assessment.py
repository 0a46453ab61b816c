"""The intake assessment: measures, the level determination and the safety screen.

A high-risk C-SSRS at intake holds the episode in assessment with `risk` open and an
urgent alert (engine V2); the clinician records the emergency evaluation with the next
assessment and the determination then stands: enroll at a program level, or refer out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rules import instruments
from rules.instruments import CssrsRisk
from rules.levels import LevelOfCare
from rules.recommendation import Flag, RecommendedAction, recommend_after_assessment
from rules.transitions import Event
from schemas.records import Recipient, ReviewRecord
from schemas.submissions import AssessmentSubmission
from schemas.view import EngineDecision
from workflows.intake import IntakeMixin
from workflows.safety import SafetyMixin, assessment_fields, cssrs_fields


class AssessmentMixin(IntakeMixin, SafetyMixin):
    def _resolve_assessment(self, sub: AssessmentSubmission) -> None:
        """Nothing to refuse beyond the phase: the scores decide where the episode goes."""

    def _apply_assessment(
        self, sub: AssessmentSubmission, _plan: None, now: datetime
    ) -> EngineDecision:
        s = self.state
        phq9 = instruments.phq9_total(sub.phq9.items)
        self_harm = instruments.phq9_self_harm(sub.phq9.items)
        cssrs = self._cssrs(sub.cssrs)
        evaluated = self.v2 and sub.safety_assessment is not None
        rec = recommend_after_assessment(
            determined_level=sub.determination.level,
            self_harm=self_harm,
            cssrs_risk=cssrs,
            evaluation_recorded=evaluated,
        )
        s.baseline_phq9 = phq9
        if sub.gad7:
            s.latest_gad7 = instruments.gad7_total(sub.gad7.items)
        s.reviews.append(
            ReviewRecord(
                review_id=sub.assessment_id,
                kind="assessment",
                clinician_id=sub.clinician_id,
                at=now,
                level=sub.determination.level,
                phq9_total=phq9,
                phq9_item9=sub.phq9.items[8],
                phq9_items=list(sub.phq9.items),
                gad7_total=s.latest_gad7,
                gad7_items=list(sub.gad7.items) if sub.gad7 else None,
                recommended_action=rec.action.value,
                reasons=rec.reasons,
                **cssrs_fields(sub.cssrs),
                **assessment_fields(sub.safety_assessment if self.v2 else None),
            )
        )
        self._raise(*(rec.raise_flags - {Flag.RISK}))
        if Flag.RISK in rec.raise_flags:
            self._open_risk(now)
        if rec.urgent:
            self._safety_alert(rec.reasons)
        if evaluated:
            self._clear_risk()
        if s.followup_due is not None and not self.v2:
            self._followup_met()
        if self.v2 and cssrs is CssrsRisk.HIGH and not evaluated:
            s.evaluation_pending = True
            self._move(Event.ASSESSED_HOLD_FOR_EVALUATION, now, sub.clinician_id)
            return self._decision(sub.assessment_id, rec)
        target = rec.target_level or sub.determination.level
        if rec.action is RecommendedAction.REFER_OUT:
            self._refer_out_at_intake(target)
            if sub.await_return_if_referred_out:
                s.waiting_until = now + timedelta(days=s.start.policy.external_wait_days)
                self._move(Event.ASSESSED_EXTERNAL_AWAIT, now, sub.clinician_id)
            else:
                self._move(Event.ASSESSED_EXTERNAL_CLOSE, now, sub.clinician_id)
            self._notify(Recipient.CARE_TEAM, "referred_out", urgent=True, level=target.value)
        else:
            s.requested_level = target
            self._move(Event.ASSESSED_PROGRAM_LEVEL, now, sub.clinician_id)
            self._start_verification(now)
        return self._decision(sub.assessment_id, rec)

    def _refer_out_at_intake(self, target: LevelOfCare) -> None:
        """V2: the level counts as delivered only once the patient is admitted."""
        if self.v2:
            self.state.requested_level = target
        else:
            self.state.delivered_level = target
