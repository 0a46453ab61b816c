"""When an authorization's units run out at the pace used so far (a straight line).

A simple projection until attendance is scheduled ahead (the IOP-week work): units used
per elapsed day since the start date, carried forward over the units left.
"""

from __future__ import annotations

import math
from datetime import date, timedelta


def projected_exhaustion(
    *, units_used: int, units_left: int, start_date: date | None, today: date
) -> date | None:
    """The day the last unit would be used; None when nothing has been used yet."""
    if start_date is None or units_used <= 0:
        return None
    if units_left <= 0:
        return today
    elapsed_days = max((today - start_date).days, 1)
    per_day = units_used / elapsed_days
    return today + timedelta(days=math.ceil(units_left / per_day))
