"""The Today page's episode-list rows (risk, overdue, due today, due this week, aftercare)
as HTML built in Python: the same markup `_today_lists.html` wrote for them row by row,
at a fraction of the cost. Those lists are up to five pages of rows on every Today page
and every refresh, and Jinja's per-cell work (a lookup, a filter call and an escape for
each of seven cells) was most of the page's render time.

Every value that is not already markup is escaped (`markupsafe.escape`), as autoescape
did; the phase and level cells come from tables made once from the enums, and the
dates are written as `render.when` writes them, without its Markup per cell.
tests/workbench/test_today_rows.py holds all of it to the template's output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from markupsafe import Markup, escape

from api.workbench.render import MONTHS, label, risk_badge
from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from store.models import EpisodeRow

_UNACKNOWLEDGED = ' <span class="badge danger" data-unacknowledged>alert not acknowledged</span>'
_RISK = str(risk_badge(True))
_DASH = "—"
_PHASES = {phase: str(escape(label(phase))) for phase in CarePhase}
_LEVELS: dict[LevelOfCare | None, str] = {
    None: _DASH,
    **{level: str(escape(level.value.upper())) for level in LevelOfCare},
}


def _when(value: datetime | None) -> str:
    """`render.when`'s markup (isoformat and digits need no escaping)."""
    if value is None:
        return _DASH
    iso = value.isoformat()
    return (
        f'<time datetime="{iso}">{iso[8:10]} {MONTHS[value.month]} {value.year} {iso[11:16]}</time>'
    )


def episode_rows(rows: Sequence[EpisodeRow], names: Mapping[str, str]) -> Markup:
    """The `<tr>`s of an episode list (with the whitespace the template's loop wrote),
    each with its patient's display name from `names` when there is one."""
    out: list[str] = []
    for e in rows:
        episode = escape(e.episode_id)
        patient = names.get(e.episode_id)
        out.append(
            f'\n      <tr><td><a href="/app/episodes/{episode}" class="mono">{episode}</a> '
            f"{_RISK if e.risk_flag else ''}"
            f"{_UNACKNOWLEDGED if e.risk_unacknowledged else ''}</td>"
            f"<td data-patient>{escape(patient) if patient else _DASH}</td>"
            f"<td>{escape(e.program_id)}</td><td>{_PHASES[e.phase]}</td>"
            f"<td>{_LEVELS[e.delivered_level]}</td><td>{_when(e.next_review_due)}</td>"
            f"<td>{_DASH if e.latest_phq9 is None else e.latest_phq9}</td></tr>\n    "
        )
    return Markup("".join(out))
