"""Small pieces every page repeats (links, dates, labels, badges), as template globals.

Python functions rather than Jinja macros: a Today page calls them hundreds of times, and
a macro call costs about ten times a function call (most of a page's render time).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

from markupsafe import Markup, escape


def label(value: object) -> str:
    """An enum value or code as words: `in_treatment` → `in treatment`."""
    text = value.value if isinstance(value, Enum) else value
    return str(text or "").replace("_", " ")


def when(value: datetime | None) -> Markup:
    if value is None:
        return Markup("—")
    return Markup('<time datetime="{}">{}</time>').format(
        value.isoformat(), value.strftime("%d %b %Y %H:%M")
    )


def day(value: date | None) -> Markup:
    if value is None:
        return Markup("—")
    return Markup('<time datetime="{}">{}</time>').format(
        value.isoformat(), value.strftime("%d %b %Y")
    )


def episode_link(episode_id: str) -> Markup:
    """An opaque episode ID, linked to its page (never anything about the patient)."""
    return Markup('<a href="/app/episodes/{0}" class="mono">{0}</a>').format(episode_id)


def risk_badge(on: bool) -> Markup:
    return Markup('<span class="badge danger">⚠ risk flag</span>') if on else Markup("")


def flag_badge(flag: object) -> Markup:
    if label(flag) == "risk":
        return risk_badge(True)
    return Markup('<span class="badge warn">{}</span>').format(escape(label(flag)))


GLOBALS = {
    "label": label,
    "when": when,
    "day": day,
    "episode_link": episode_link,
    "risk_badge": risk_badge,
    "flag_badge": flag_badge,
}
