"""The risk flag: what opens it, what closes it, and the alert that goes with it.

The flag opens on PHQ-9 item 9 > 0 or a moderate / high C-SSRS screen, and clears only
when a safety assessment's result is recorded (structured, or as override text of real
length), whatever the action that comes with it. While it is open the escalation ladder
in `workflows/deadlines.py` chases it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rules import instruments, localtime
from rules.instruments import CssrsRisk
from rules.recommendation import Flag
from rules.transitions import Action, Event
from schemas.records import Recipient, ReviewRecord
from schemas.submissions import AlertAcknowledgement, CssrsScreen, SafetyAssessment
from schemas.view import EngineDecision
from workflows.engine_core import ENGINE, EngineCore, InvalidSubmission
from workflows.state import ENGINE_V2, ENGINE_V3

# One step of the escalation ladder: when, the timeline's event, and who is told.
Rung = tuple[datetime, Event, tuple[Recipient, ...]]


class SafetyMixin(EngineCore):
    @property
    def v2(self) -> bool:
        """Behaviour that changes the workflow's commands is for engine V2 runs only."""
        return self.state.engine_version >= ENGINE_V2

    def _cssrs(self, screen: CssrsScreen | None) -> CssrsRisk | None:
        """The screen's triage; engine V1 knew only high risk (and none)."""
        if screen is None:
            return None
        risk = instruments.cssrs_risk(
            screen.answers, behaviour_past_3_months=screen.behaviour_past_3_months
        )
        if not self.v2 and risk is not CssrsRisk.HIGH:
            return CssrsRisk.NONE
        return risk

    def _assessment_recorded(
        self, override_reason: str | None, assessment: SafetyAssessment | None
    ) -> bool:
        """A structured result, or override text of at least `override_min_chars`."""
        if not self.v2:
            return bool(override_reason)
        if assessment is not None:
            return True
        text = (override_reason or "").strip()
        return len(text) >= self.state.start.policy.override_min_chars

    def _needs_assessment_message(self, what: str) -> str:
        n = self.state.start.policy.override_min_chars
        return (
            f"the risk flag is open: {what} needs the same-day safety assessment's result "
            f"as override_reason (at least {n} characters), or as a structured safety "
            "assessment (instrument, result, plan)"
        )

    def _open_risk(self, now: datetime) -> None:
        """Raise `risk`; a newly opened flag starts its escalation ladder."""
        s = self.state
        if Flag.RISK not in s.flags:
            s.risk_raised_at = now
            s.risk_escalations_done = 0
            self._forget_acknowledgement()
        self._raise(Flag.RISK)

    def _clear_risk(self) -> None:
        s = self.state
        self._clear(Flag.RISK)
        s.risk_raised_at = None
        s.risk_escalations_done = 0
        s.evaluation_pending = False
        self._forget_acknowledgement()

    def _forget_acknowledgement(self) -> None:
        s = self.state
        s.risk_acknowledged_at = None
        s.risk_acknowledged_by = None
        s.risk_ack_escalations_done = 0

    # ------------------------------------------------ acknowledging the risk alert

    def _resolve_acknowledgement(self, _sub: AlertAcknowledgement) -> Event:
        s = self.state
        if not self._risk_open:
            raise InvalidSubmission("no risk alert is open: there is nothing to acknowledge")
        if s.risk_acknowledged_at is not None:
            raise InvalidSubmission(
                f"the risk alert was already acknowledged by '{s.risk_acknowledged_by}' "
                f"at {s.risk_acknowledged_at.isoformat()}"
            )
        return self._ensure_allowed(Event.RISK_ALERT_ACKNOWLEDGED, Action.ACKNOWLEDGE_ALERT)

    def _apply_acknowledgement(
        self, sub: AlertAcknowledgement, event: Event, now: datetime
    ) -> EngineDecision:
        """Who saw the alert, when, and what they did: on the timeline and the review
        records; the alert's escalation stops, the flag stays open until assessed."""
        s = self.state
        s.risk_acknowledged_at = now
        s.risk_acknowledged_by = sub.acknowledged_by
        s.reviews.append(
            ReviewRecord(
                review_id=sub.acknowledgement_id,
                kind="alert_acknowledgement",
                clinician_id=sub.acknowledged_by,
                at=now,
                level=s.delivered_level,
                decision=sub.response.value,
            )
        )
        self._move(event, now, sub.acknowledged_by)
        return self._decision(
            sub.acknowledgement_id,
            reasons=["risk_alert_acknowledged", "risk_flag_open_until_safety_assessment"],
        )

    def _risk_ack_ladder(self) -> list[Rung]:
        """While nobody has acknowledged the open risk alert (engine V3): the supervisor
        after `risk_alert_ack_minutes`, then supervisor and care team again."""
        s = self.state
        policy = s.start.policy
        if (
            s.engine_version < ENGINE_V3
            or s.risk_raised_at is None
            or not self._risk_open
            or s.risk_acknowledged_at is not None
        ):
            return []
        first = s.risk_raised_at + timedelta(minutes=policy.risk_alert_ack_minutes)
        again = first + timedelta(minutes=policy.risk_alert_ack_repeat_minutes)
        return [
            (first, Event.RISK_ALERT_UNACKNOWLEDGED, (Recipient.SUPERVISOR,)),
            (
                again,
                Event.RISK_ALERT_UNACKNOWLEDGED_AGAIN,
                (Recipient.SUPERVISOR, Recipient.CARE_TEAM),
            ),
        ]

    def _risk_ack_escalation_due(self) -> datetime | None:
        ladder = self._risk_ack_ladder()
        done = self.state.risk_ack_escalations_done
        return ladder[done][0] if done < len(ladder) else None

    def _escalate_unacknowledged(self, now: datetime) -> None:
        s = self.state
        _, event, recipients = self._risk_ack_ladder()[s.risk_ack_escalations_done]
        s.risk_ack_escalations_done += 1
        for who in recipients:
            self._notify(
                who,
                "risk_alert_unacknowledged",
                urgent=True,
                step=str(s.risk_ack_escalations_done),
            )
        self._move(event, now, ENGINE)

    def _safety_alert(self, reasons: list[str]) -> None:
        """Urgent, to the care team, naming every reason with the risk reasons first."""
        self._notify(
            Recipient.CARE_TEAM,
            "safety_alert",
            urgent=True,
            reason=reasons[0],
            reasons=",".join(reasons),
        )

    @property
    def _risk_open(self) -> bool:
        return Flag.RISK in self.state.flags

    def _tell_closed(self, event: Event) -> None:
        """Every closure the engine makes is told to the care team; urgently with `risk`."""
        risk = self._risk_open
        self._notify(
            Recipient.CARE_TEAM,
            "episode_closed",
            urgent=risk,
            reason=event.value,
            risk_open=str(risk).lower(),
            next_step="offer_aftercare_or_referral",
        )
        if risk:
            self._notify(Recipient.SUPERVISOR, "episode_closed", urgent=True, reason=event.value)

    # ------------------------------------------------------------ escalation ladder

    def _risk_ladder(self) -> list[Rung]:
        """When an unassessed risk flag is chased, how the timeline names it, and to whom."""
        s = self.state
        policy = s.start.policy
        if not self.v2 or s.risk_raised_at is None or not self._risk_open:
            return []
        first = s.risk_raised_at + timedelta(hours=policy.risk_escalation_hours)
        ladder: list[Rung] = [(first, Event.RISK_ESCALATED, (Recipient.SUPERVISOR,))]
        if policy.risk_escalation_end_of_local_day:
            end = localtime.end_of_local_day(first, policy.time_zone)
            ladder.append(
                (end, Event.RISK_ESCALATED_END_OF_DAY, (Recipient.SUPERVISOR, Recipient.CARE_TEAM))
            )
        return ladder

    def _risk_escalation_due(self) -> datetime | None:
        ladder = self._risk_ladder()
        done = self.state.risk_escalations_done
        return ladder[done][0] if done < len(ladder) else None

    def _escalate_risk(self, now: datetime) -> None:
        s = self.state
        ladder = self._risk_ladder()
        _, event, recipients = ladder[s.risk_escalations_done]
        s.risk_escalations_done += 1
        raised = s.risk_raised_at.isoformat() if s.risk_raised_at else ""
        for who in recipients:
            self._notify(
                who,
                "risk_unassessed",
                urgent=True,
                step=str(s.risk_escalations_done),
                raised_at=raised,
            )
        self._move(event, now, ENGINE)


def assessment_fields(assessment: SafetyAssessment | None) -> dict[str, str | None]:
    """The safety assessment's columns on a review record."""
    if assessment is None:
        return {}
    return {
        "safety_instrument": assessment.instrument,
        "safety_result": assessment.result.value,
        "safety_plan": assessment.plan,
    }


def cssrs_fields(screen: CssrsScreen | None) -> dict[str, object]:
    """The screen's item answers and triage, kept in the record (not only a boolean)."""
    if screen is None:
        return {}
    risk = instruments.cssrs_risk(
        screen.answers, behaviour_past_3_months=screen.behaviour_past_3_months
    )
    return {
        "cssrs_answers": list(screen.answers),
        "cssrs_behaviour_past_3_months": screen.behaviour_past_3_months,
        "cssrs_risk": risk.value,
        "cssrs_high_risk": risk is CssrsRisk.HIGH,
    }
