"""Treatment: weekly reviews and the clinician's decisions on them."""

from __future__ import annotations

from datetime import datetime, timedelta

from rules import instruments
from rules.levels import INTENSITY, LevelOfCare, is_external
from rules.recommendation import Flag, recommend_after_review
from rules.transitions import Action, CarePhase, Event
from schemas.payer import PayerRequestKind
from schemas.records import Recipient, ReviewRecord
from schemas.submissions import ClinicianDecision, DecisionAction, ReviewSubmission
from schemas.view import EngineDecision
from workflows.engine_core import InvalidSubmission
from workflows.safety import SafetyMixin, assessment_fields, cssrs_fields
from workflows.state import ENGINE_V2, SCORES_KEPT


class TreatmentMixin(SafetyMixin):
    """The engine recommends and guards; the clinician decides."""

    def _resolve_review(self, _sub: ReviewSubmission) -> Event:
        return self._ensure_allowed(Event.REVIEW_RECORDED, Action.SUBMIT_REVIEW)

    def _apply_review(self, sub: ReviewSubmission, event: Event, now: datetime) -> EngineDecision:
        s = self.state
        policy = s.start.policy
        level = s.delivered_level
        assert level is not None
        phq9_items, gad7_items, from_patient = self._review_measures(sub)
        phq9 = instruments.phq9_total(phq9_items) if phq9_items else None
        self_harm = instruments.phq9_self_harm(phq9_items) if phq9_items else False
        cssrs = self._cssrs(sub.cssrs)
        if s.baseline_phq9 is None and phq9 is not None:
            s.baseline_phq9 = phq9
        rec = recommend_after_review(
            level=level,
            age_group=self.age_group(),
            baseline_phq9=s.baseline_phq9,
            level_index_phq9=s.level_entry_phq9,
            phq9_history=s.level_phq9,
            phq9_total=phq9,
            self_harm=self_harm,
            cssrs_risk=cssrs,
            gad7_given=gad7_items is not None,
            hours_attended=sub.hours_attended,
            weeks_in_period=sub.period_weeks,
            consecutive_low_weeks_before=s.consecutive_low_weeks,
            reviews_without_measures_before=s.reviews_without_measures,
            policy=policy,
        )
        if phq9 is not None:
            s.phq9_history = [*s.phq9_history, phq9][-SCORES_KEPT:]
            s.level_phq9 = [*s.level_phq9, phq9][-SCORES_KEPT:]
        if gad7_items:
            s.latest_gad7 = instruments.gad7_total(gad7_items)
        s.consecutive_low_weeks = rec.consecutive_low_weeks
        s.reviews_without_measures = rec.reviews_without_measures
        self._clear(*rec.clear_flags)
        self._raise(*(rec.raise_flags - {Flag.RISK}))
        if Flag.RISK in rec.raise_flags:
            self._open_risk(now)
        if rec.urgent:
            self._safety_alert(rec.reasons)
        if Flag.ATTENDANCE_PLAN_REQUIRED in rec.raise_flags:
            self._notify(Recipient.CARE_TEAM, "attendance_plan_required")
        if Flag.MEASURES_MISSING in rec.raise_flags:
            self._notify(Recipient.CARE_TEAM, "measures_missing")
        if s.followup_due is not None and not self.v2:
            self._followup_met()
        s.reviews.append(
            ReviewRecord(
                review_id=sub.review_id,
                kind="review",
                clinician_id=sub.clinician_id,
                at=now,
                level=level,
                phq9_total=phq9,
                phq9_item9=phq9_items[8] if phq9_items else None,
                phq9_items=list(phq9_items) if phq9_items else None,
                gad7_total=s.latest_gad7 if gad7_items else None,
                gad7_items=list(gad7_items) if gad7_items else None,
                hours_attended=sub.hours_attended,
                units_attended=sub.units_attended,
                recommended_action=rec.action.value,
                reasons=rec.reasons + from_patient,
                **cssrs_fields(sub.cssrs),
            )
        )
        self._burn_units(sub.units_attended, now, period_weeks=sub.period_weeks)
        self._move(event, now, sub.clinician_id)
        self._start_review_clock(now)
        decision = self._decision(sub.review_id, rec, from_patient)
        s.last_recommendation = decision
        return decision

    def _review_measures(
        self, sub: ReviewSubmission
    ) -> tuple[list[int] | None, list[int] | None, list[str]]:
        """The review's PHQ-9 and GAD-7 items: its own, or else the patient's latest answers
        by link (each used by one review only), and the reasons naming what came from the
        patient."""
        s = self.state
        phq9 = list(sub.phq9.items) if sub.phq9 else s.patient_phq9
        gad7 = list(sub.gad7.items) if sub.gad7 else s.patient_gad7
        used = []
        if sub.phq9 is None and s.patient_phq9 is not None:
            used.append("phq9_patient_reported")
        if sub.gad7 is None and s.patient_gad7 is not None:
            used.append("gad7_patient_reported")
        s.patient_phq9 = s.patient_gad7 = None
        return phq9, gad7, used

    def _resolve_decision(self, sub: ClinicianDecision) -> Event:
        s = self.state
        level = s.delivered_level
        assert level is not None or s.phase is not CarePhase.IN_TREATMENT
        unassessed = self._risk_open and not self._assessment_recorded(
            sub.override_reason, sub.safety_assessment
        )
        if sub.action is DecisionAction.CONTINUE:
            if unassessed:
                raise InvalidSubmission(
                    self._needs_assessment_message("continuing at the same level")
                )
            plan = (sub.reason or "").strip() or (sub.override_reason or "").strip()
            if Flag.ATTENDANCE_PLAN_REQUIRED in s.flags and not plan:
                raise InvalidSubmission(
                    "attendance was below the minimum two weeks running: "
                    "continuing needs a reason (the plan), or choose a level change"
                )
            event = Event.CONTINUE_LEVEL
        elif sub.action is DecisionAction.DISCHARGE:
            if unassessed:
                raise InvalidSubmission(self._needs_assessment_message("discharge"))
            event = Event.DISCHARGE
        else:
            target = sub.target_level
            assert target is not None
            if level is not None:
                up = INTENSITY[target] > INTENSITY[level]
                if sub.action is DecisionAction.STEP_UP and not up:
                    raise InvalidSubmission(f"'{target}' is not a step up from '{level}'")
                if sub.action is DecisionAction.STEP_DOWN and (up or target is level):
                    raise InvalidSubmission(f"'{target}' is not a step down from '{level}'")
                if sub.action is DecisionAction.STEP_DOWN and unassessed:
                    raise InvalidSubmission(self._needs_assessment_message("stepping down"))
            if is_external(target):
                event = Event.REFER_OUT
            elif s.start.policy.requires_authorization(target) and not s.self_pay:
                event = (
                    Event.LEVEL_CHANGE_REQUESTED  # stays in treatment while the payer decides
                    if s.engine_version >= ENGINE_V2
                    else Event.LEVEL_CHANGE_NEEDS_AUTH
                )
            else:
                event = Event.LEVEL_CHANGE_NO_AUTH
        return self._ensure_allowed(event, Action.DECIDE)

    def _settle_risk_on_decision(self, sub: ClinicianDecision) -> None:
        """V2: only a recorded assessment clears `risk`; a step-up clears deterioration."""
        if not self.v2:
            if sub.action is DecisionAction.CONTINUE or sub.override_reason:
                self._clear_risk()
            if sub.action is DecisionAction.STEP_UP:
                self._clear_risk()
            return
        if self._assessment_recorded(sub.override_reason, sub.safety_assessment):
            self._clear_risk()

    def _apply_decision(
        self, sub: ClinicianDecision, event: Event, now: datetime
    ) -> EngineDecision:
        s = self.state
        # Before flags clear: a change made with risk or deterioration open is expedited.
        expedite = sub.expedited or bool({Flag.RISK, Flag.DETERIORATION} & set(s.flags))
        s.reviews.append(
            ReviewRecord(
                review_id=sub.decision_id,
                kind="decision",
                clinician_id=sub.clinician_id,
                at=now,
                level=s.delivered_level,
                decision=f"{sub.action.value}:{sub.target_level.value}"
                if sub.target_level
                else sub.action.value,
                override_reason=sub.override_reason,
                reasons=[sub.reason] if sub.reason else [],
                **assessment_fields(sub.safety_assessment),
            )
        )
        self._settle_risk_on_decision(sub)
        self._clear(Flag.ATTENDANCE_PLAN_REQUIRED)
        if sub.action is DecisionAction.STEP_UP:
            self._clear(Flag.DETERIORATION)
        target = sub.target_level
        if event is Event.CONTINUE_LEVEL:
            self._move(event, now, sub.clinician_id)
        elif event is Event.DISCHARGE:
            self._discharge(event, now, sub.clinician_id, outcome="completed")
        elif event is Event.REFER_OUT:
            assert target is not None
            self._refer_out(target, now)
            self._move(event, now, sub.clinician_id)
            self._notify(Recipient.CARE_TEAM, "referred_out", urgent=True, level=target.value)
        elif event is Event.LEVEL_CHANGE_NEEDS_AUTH:
            assert target is not None
            s.requested_level = target
            s.requested_expedited = sub.expedited
            self._move(event, now, sub.clinician_id)
            self._request_authorization(PayerRequestKind.INITIAL, target, sub.expedited, now)
        elif event is Event.LEVEL_CHANGE_REQUESTED:
            assert target is not None
            self._move(event, now, sub.clinician_id)
            self._request_level_change(target, expedite, now)
        else:
            assert target is not None
            self._move(event, now, sub.clinician_id)
            self._enroll(target, now)
        return self._decision(sub.decision_id)

    def _refer_out(self, target: LevelOfCare, now: datetime) -> None:
        """Wait for the external stay; V2 counts the level as delivered only on admission."""
        s = self.state
        if self.v2:
            s.delivered_level = None
            s.requested_level = target
        else:
            s.delivered_level = target
        s.waiting_until = now + timedelta(days=s.start.policy.external_wait_days)
