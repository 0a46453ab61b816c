"""The Today page's list of open quality clocks (HEDIS FUH after inpatient, IET for
substance-use programs): read from `quality_clocks`, which the workflows write."""

from __future__ import annotations

from datetime import date
from typing import Any

from schemas.quality import QualityMeasure
from store.quality_clocks import OpenClockLine

MEASURE_TITLES: dict[QualityMeasure, str] = {
    QualityMeasure.FUH_7: "FUH 7-day follow-up",
    QualityMeasure.FUH_30: "FUH 30-day follow-up",
    QualityMeasure.IET_INITIATION: "IET initiation (14 days)",
    QualityMeasure.IET_ENGAGEMENT: "IET engagement (34 days)",
}
QUALITY_CLOCKS_KEY = "quality-clocks"
QUALITY_CLOCKS_TITLE = "Follow-up windows open (FUH, IET)"


def quality_clock_rows(lines: list[OpenClockLine], *, today: date) -> list[dict[str, Any]]:
    return [
        {
            "episode_id": c.episode_id,
            "program_id": c.program_id,
            "measure": c.measure.value,
            "measure_title": MEASURE_TITLES[c.measure],
            "index_date": c.index_date,
            "last_day": c.last_day,
            "days_left": (c.last_day - today).days,
            "services": f"{c.services_counted} of {c.services_needed}",
            "alerted": c.alerted,
        }
        for c in lines
    ]


NOTE = (
    "A visit or attended session counts on the days after the discharge day (FUH) or from "
    "the episode's start (IET); days left count to the window's last day (UTC)."
)
