"""The Today page's episode-list rows, written in Python (api/workbench/today_rows.py), are
the markup the template's own loop wrote for them (kept here as the reference), for rows
that escape, name a patient or not, carry a risk flag and an unacknowledged alert, and
lack a review date, a level or a score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.workbench.pages import _episode_row
from api.workbench.today_rows import episode_rows
from api.workbench.web import TEMPLATES
from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from store.models import EpisodeRow

# `_today_lists.html`'s episode-list loop before the rows moved to Python, verbatim.
TEMPLATE_ROWS = """{% for r in rows %}
      <tr><td>{{ r.episode_id | episode_link }} {{ r.risk_flag | risk_badge }}{% if r.risk_unacknowledged %} <span class="badge danger" data-unacknowledged>alert not acknowledged</span>{% endif %}</td><td data-patient>{{ r.patient or '—' }}</td><td>{{ r.program_id }}</td><td>{{ r.phase | label }}</td><td>{{ (r.level or '—') | upper }}</td><td>{{ r.next_review_due | when }}</td><td>{{ r.latest_phq9 if r.latest_phq9 is not none else '—' }}</td></tr>
    {% endfor %}"""  # noqa: E501

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def _episode(i: int) -> EpisodeRow:
    return EpisodeRow.model_validate(
        {
            "episode_id": 'e<3>&"x' if i == 3 else f"ep-{i:04d}",
            "program_id": "prog <b>" if i == 4 else "prog-a",
            "phase": [CarePhase.IN_TREATMENT, CarePhase.AFTERCARE, CarePhase.ASSESSMENT][i % 3],
            "outcome": None,
            "authorized_level": None,
            "delivered_level": [LevelOfCare.IOP, None, LevelOfCare.PHP][i % 3],
            "started_at": NOW,
            "closed_at": None,
            "next_review_due": None if i % 5 == 0 else NOW + timedelta(hours=i * 7 - 30),
            "risk_flag": i % 4 == 0,
            "risk_unacknowledged": i % 8 == 0,
            "baseline_phq9": None,
            "latest_phq9": None if i % 3 == 0 else i % 28,
            "updated_at": NOW,
        }
    )


def test_episode_rows_are_the_templates_markup() -> None:
    rows = [_episode(i) for i in range(17)]
    names = {"ep-0001": "Ada <Lovelace> & co", "ep-0002": 'Bo O\'Neil "B"', "ep-0005": ""}
    expected = TEMPLATES.env.from_string(TEMPLATE_ROWS).render(
        rows=[_episode_row(e, patient=names.get(e.episode_id)) for e in rows]
    )
    written = episode_rows(rows, names)
    assert str(written) == expected
    # The reference covers what could go wrong: escaping, names, badges, empty cells.
    for seen in ("&lt;Lovelace&gt; &amp; co", "O&#39;Neil &#34;B&#34;", "e&lt;3&gt;&amp;&#34;x",
                 "prog &lt;b&gt;", "data-unacknowledged", "risk flag", "<td>PHP</td>",
                 "<td>—</td>"):  # fmt: skip
        assert seen in written, seen
    assert episode_rows([], names) == ""
