"""Small pieces every page repeats (links, dates, labels, badges), as template globals.

Python functions rather than Jinja macros: a Today page calls them hundreds of times, and
a macro call costs about ten times a function call (most of a page's render time). For the
same reason they build their markup with f-strings (escaping only what may need it), not
Markup.format, and the Today lists call them as filters.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

from markupsafe import Markup, escape


def label(value: object) -> str:
    """An enum value or code as words: `in_treatment` → `in treatment`."""
    text = value.value if isinstance(value, Enum) else value
    return str(text or "").replace("_", " ")


_DASH = Markup("—")
_NOTHING = Markup("")
# strftime's %b in the C locale, without strftime (these run hundreds of times a page).
MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def when(value: datetime | None) -> Markup:
    """`<time>` with the instant and `02 Dec 2026 14:05` (isoformat and digits need no
    escaping, so the markup is built directly rather than through Markup.format)."""
    if value is None:
        return _DASH
    shown = (
        f"{value.day:02d} {MONTHS[value.month]} {value.year} {value.hour:02d}:{value.minute:02d}"
    )
    return Markup(f'<time datetime="{value.isoformat()}">{shown}</time>')


def day(value: date | None) -> Markup:
    if value is None:
        return _DASH
    shown = f"{value.day:02d} {MONTHS[value.month]} {value.year}"
    return Markup(f'<time datetime="{value.isoformat()}">{shown}</time>')


def episode_link(episode_id: str) -> Markup:
    """An opaque episode ID, linked to its page (never anything about the patient)."""
    shown = escape(episode_id)
    return Markup(f'<a href="/app/episodes/{shown}" class="mono">{shown}</a>')


_RISK_BADGE = Markup('<span class="badge danger">⚠ risk flag</span>')


def risk_badge(on: bool) -> Markup:
    return _RISK_BADGE if on else _NOTHING


def flag_badge(flag: object) -> Markup:
    if label(flag) == "risk":
        return risk_badge(True)
    return Markup('<span class="badge warn">{}</span>').format(escape(label(flag)))


# The same helpers as filters (`{{ r.next_review_due | when }}`): a filter is called
# directly, a global through the template context's call (the Today lists use filters).
FILTERS = {
    "label": label,
    "when": when,
    "day": day,
    "episode_link": episode_link,
    "risk_badge": risk_badge,
}

GLOBALS = {
    "label": label,
    "when": when,
    "day": day,
    "episode_link": episode_link,
    "risk_badge": risk_badge,
    "flag_badge": flag_badge,
}
