"""The program report's figures from its tallies: the counts per measure and status the
report's query returns (store/outcomes_report.py), each figure with the words of how it is
computed. Pure: no I/O."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from rules.levels import LevelOfCare
from rules.outcome_policy import OutcomePolicy
from rules.outcomes import FollowUp, MeasureStatus
from rules.program_measures import EndKind, Spread
from schemas.outcomes_report import (
    BreakdownFigure,
    CountFigure,
    LengthOfStayFigure,
    LevelSpread,
    ProgramReport,
    RateFigure,
)

# The report's rate figures by name (the ProgramReport field each fills).
RESPONSE_AT_DISCHARGE: Final = "response_at_discharge"
REMISSION_AT_DISCHARGE: Final = "remission_at_discharge"
STEP_UPS: Final = "step_ups_after_step_down"
FUH_SHORT: Final = "fuh_7_days"
FUH_LONG: Final = "fuh_30_days"
IET_INITIATION: Final = "iet_initiation"
IET_ENGAGEMENT: Final = "iet_engagement"

METHODS = {
    "episodes_started": "Episodes of the program whose start (referral) falls in the period.",
    "episodes_ended": (
        "Episodes whose treatment ended in the period: the first move to aftercare or "
        "closed (discharge, withdrawal, closure, entered in error)."
    ),
    "length_of_stay": (
        "For episodes that ended in the period (not entered in error): days in treatment "
        "at each delivered level, from the move onto the level to the next move, summed "
        "per episode; median and interquartile range (inclusive quartiles) over the "
        "episodes with any time at that level. External care is not a program stay."
    ),
    "endings": (
        "Episodes that ended in the period, by the event that ended treatment: discharge "
        "or a discharge home from external care = completed; withdrawal = against advice; "
        "closed while in external care (inpatient/residential elsewhere, no return) = "
        "stepped up; closed at referral or assessment = referred out; entered in error; "
        "closed before admission (coverage, denial upheld, appeal window) = not admitted."
    ),
    "at_discharge": (
        "Episodes that ended in the period (not entered in error) whose baseline (first "
        "PHQ-9 of the episode) is above {index}: the last PHQ-9 on or before the discharge "
        "day, after the baseline's day, decides; {rule}. With no such score the episode "
        "lacks it and counts in the denominator as not met."
    ),
    "followup": (
        "Episodes (not entered in error) whose index PHQ-9 (the first above {index} "
        "during the episode) falls in the period; the last PHQ-9 {first}-{last} days "
        "after the index decides ({rule}), including the follow-up questionnaires "
        "answered after the episode closed. No score in the window once it has closed, "
        "or the follow-up questionnaire's non-response recorded: lacking, counted in the "
        "denominator as not met; a window still open with no score yet: pending, not "
        "counted."
    ),
    "step_ups": (
        "Step-downs (a less intensive delivered level) in the period; numerator: those "
        "followed by a step-up within {days} days. Step-downs less than {days} days ago "
        "with no step-up yet are pending."
    ),
    "fuh": (
        "HEDIS FUH, from the engine's live quality clocks: each return from external care "
        "(inpatient or residential) whose {days}-day clock opened in the period (the "
        "return's local day); met by an attended or partly attended session or a "
        "recorded follow-up visit on days 1-{days} after that day (a visit on the day "
        "itself does not count); not met when the window closed without one; lacking "
        "when the episode closed while the window was open; pending while it is open. "
        "Episodes run by engines before V3 have no clocks and are not counted."
    ),
    "iet_initiation": (
        "HEDIS IET initiation (substance-use programs), from the engine's live quality "
        "clocks: episodes whose initiation clock opened in the period (the start's local "
        "day), met by an attended session or recorded visit on days 0-{days} from the "
        "start; statuses as for FUH."
    ),
    "iet_engagement": (
        "HEDIS IET engagement: the same episodes; met by at least {count} more services "
        "on later, distinct days within {days} days of the initiation (the engagement "
        "clock); an episode not initiated has its initiation's status."
    ),
}

SOURCES = (
    "carepath's care records in PostgreSQL (transitions, reviews with PHQ-9 totals, the "
    "follow-up questionnaires answered after the episode closed, the engine's quality "
    "clocks), as written by the episodes and the follow-up job; days are calendar days "
    "in the program's time zone ({tz})."
)


@dataclass
class Tallies:
    """What the report counts: episodes, endings, stays per level and each rate's
    episodes (or events) by status."""

    started: int = 0
    ended: int = 0
    endings: Counter[EndKind] = field(default_factory=Counter)
    stays: dict[LevelOfCare, Spread] = field(default_factory=dict)
    rates: dict[str, Counter[MeasureStatus]] = field(default_factory=dict)

    def add(self, figure: str, status: MeasureStatus, n: int = 1) -> None:
        self.rates.setdefault(figure, Counter())[status] += n


def rate_figure(counts: Counter[MeasureStatus], label: str, method: str) -> RateFigure:
    met, lacking = counts[MeasureStatus.MET], counts[MeasureStatus.LACKING]
    denominator = met + counts[MeasureStatus.NOT_MET] + lacking
    return RateFigure(
        label=label,
        method=method,
        numerator=met,
        denominator=denominator,
        lacking=lacking,
        pending=counts[MeasureStatus.PENDING],
        rate=round(met / denominator, 4) if denominator else None,
    )


def _level_spread(s: Spread) -> LevelSpread:
    return LevelSpread(episodes=s.n, median_days=s.median, q1_days=s.q1, q3_days=s.q3)


def assemble(
    tallies: Tallies,
    *,
    program_id: str,
    first: date,
    last: date,
    as_of: datetime,
    policy: OutcomePolicy,
    substance_use: bool,
    time_zone: str = "UTC",
) -> ProgramReport:
    p = policy
    index_text = p.followup_index_above
    remission_rule = f"remission: PHQ-9 below {p.remission_below}"
    response_rule = f"response: at least {p.response_drop_fraction:.0%} below the index"

    def rate(name: str, label: str, method: str) -> RateFigure:
        return rate_figure(tallies.rates.get(name, Counter()), label, method)

    def follow(kind: FollowUp, label: str, rule: str) -> RateFigure:
        window = {
            FollowUp.REMISSION_12_MONTHS: p.remission_12_months,
            FollowUp.REMISSION_6_MONTHS: p.remission_6_months,
            FollowUp.RESPONSE_6_MONTHS: p.response_6_months,
            FollowUp.DRR_E_FOLLOWUP: p.drr_e_followup,
        }[kind]
        method = METHODS["followup"].format(
            index=index_text, first=window.first_day, last=window.last_day, rule=rule
        )
        return rate(kind.value, label, method)

    return ProgramReport(
        program_id=program_id,
        period_from=first,
        period_to=last,
        as_of=as_of,
        substance_use_program=substance_use,
        policy=policy,
        episodes_started=CountFigure(
            label="Episodes started", method=METHODS["episodes_started"], value=tallies.started
        ),
        episodes_ended=CountFigure(
            label="Episodes ended", method=METHODS["episodes_ended"], value=tallies.ended
        ),
        length_of_stay=LengthOfStayFigure(
            label="Length of stay per level (days)",
            method=METHODS["length_of_stay"],
            levels={
                level.value: _level_spread(tallies.stays[level])
                for level in LevelOfCare
                if level in tallies.stays
            },
        ),
        endings=BreakdownFigure(
            label="How episodes ended",
            method=METHODS["endings"],
            counts={kind.value: tallies.endings[kind] for kind in EndKind},
        ),
        response_at_discharge=rate(
            RESPONSE_AT_DISCHARGE,
            "Response at discharge",
            METHODS["at_discharge"].format(
                index=index_text,
                rule=f"response: at least {p.response_drop_fraction:.0%} below the baseline",
            ),
        ),
        remission_at_discharge=rate(
            REMISSION_AT_DISCHARGE,
            "Remission at discharge",
            METHODS["at_discharge"].format(index=index_text, rule=remission_rule),
        ),
        remission_6_months=follow(
            FollowUp.REMISSION_6_MONTHS, "Remission at 6 months (MIPS 411)", remission_rule
        ),
        remission_12_months=follow(
            FollowUp.REMISSION_12_MONTHS,
            "Remission at 12 months (CMS159 / MIPS 370)",
            remission_rule,
        ),
        response_6_months=follow(FollowUp.RESPONSE_6_MONTHS, "Response at 6 months", response_rule),
        drr_e_followup=follow(
            FollowUp.DRR_E_FOLLOWUP,
            "Follow-up PHQ-9 at 120-240 days (HEDIS DRR-E)",
            "any PHQ-9 in the window meets it",
        ),
        step_ups_after_step_down=rate(
            STEP_UPS,
            f"Step-ups within {p.step_up_after_step_down_days} days of a step-down",
            METHODS["step_ups"].format(days=p.step_up_after_step_down_days),
        ),
        fuh_7_days=rate(
            FUH_SHORT,
            f"Follow-up within {p.fuh_short_days} days of inpatient (HEDIS FUH)",
            METHODS["fuh"].format(days=p.fuh_short_days),
        ),
        fuh_30_days=rate(
            FUH_LONG,
            f"Follow-up within {p.fuh_long_days} days of inpatient (HEDIS FUH)",
            METHODS["fuh"].format(days=p.fuh_long_days),
        ),
        iet_initiation=rate(
            IET_INITIATION,
            f"Initiation within {p.iet_initiation_days} days (HEDIS IET)",
            METHODS["iet_initiation"].format(days=p.iet_initiation_days),
        )
        if substance_use
        else None,
        iet_engagement=rate(
            IET_ENGAGEMENT,
            f"Engagement within {p.iet_engagement_days} days (HEDIS IET)",
            METHODS["iet_engagement"].format(
                count=p.iet_engagement_services, days=p.iet_engagement_days
            ),
        )
        if substance_use
        else None,
        sources=SOURCES.format(tz=time_zone),
    )
