"""PHQ-9 and GAD-7 over time as SVG (pygal), with the severity bands and the response
and remission thresholds marked. The same SVG can go into a PDF report later.

Served as its own document (an `<img>` on the episode page, with the numbers in a table
beside it), so the page's Content-Security-Policy stays free of inline style. A chart is a
picture: `picture` renders it without pygal's script (see `_without_script`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pygal
from pygal.style import Style

from rules.policy import ProgramPolicy

# PHQ-9 band floors (rules.instruments.phq9_severity): 5 mild, 10 moderate, 15 moderately
# severe, 20 severe; GAD-7 shares 5 / 10 / 15.
PHQ9_BANDS: tuple[tuple[int, str], ...] = (
    (0, "minimal"),
    (5, "mild"),
    (10, "moderate"),
    (15, "mod. severe"),
    (20, "severe"),
    (27, ""),
)

# High-contrast, colour-blind-safe lines (Okabe-Ito); each series also has its own
# dash pattern and marker, so colour is never the only signal.
STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1a1a1a",
    foreground_strong="#000000",
    foreground_subtle="#595959",
    colors=("#0072B2", "#D55E00", "#009E73", "#6a3d9a"),
    font_family="system-ui, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=13,
    title_font_size=16,
)


def _without_script(root: Any) -> Any:
    """pygal's XML filter that drops every <script>. `js=[]` keeps pygal's tooltip script
    from loading, but pygal still writes its config (`window.pygal.config = ...`) as an
    inline <script>, and no setting turns that off; the CSP would block it, a PDF ignores
    it, so the picture goes out without it."""
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return root


def picture(chart: Any) -> bytes:
    """The chart's SVG with no script in it (no tooltips: the numbers are beside it)."""
    chart.add_xml_filter(_without_script)
    rendered: bytes = chart.render()
    return rendered


@dataclass(frozen=True)
class ScorePoint:
    at: datetime
    phq9: int | None
    gad7: int | None


def scores_svg(
    points: list[ScorePoint], *, baseline_phq9: int | None, policy: ProgramPolicy
) -> bytes:
    chart = pygal.Line(
        style=STYLE,
        width=760,
        height=360,
        js=[],  # pygal's tooltips would load from elsewhere; `picture` drops the rest
        title="PHQ-9 and GAD-7 over time",
        x_title="date",
        y_title="score",
        range=(0, 27),
        include_x_axis=True,
        show_minor_y_labels=False,
        y_labels=[
            {"value": floor, "label": f"{floor} {name}".strip()} for floor, name in PHQ9_BANDS
        ],
        y_labels_major=[floor for floor, _ in PHQ9_BANDS],
        show_y_guides=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=2,
        truncate_legend=-1,
        dots_size=4,
        x_label_rotation=0,
        allow_interruptions=True,
    )
    days = [p.at.date() for p in points]
    same_day = len(set(days)) < len(days)  # two scores on one day: show the time too
    chart.x_labels = [p.at.strftime("%d %b %H:%M" if same_day else "%d %b") for p in points]
    chart.add("PHQ-9", [p.phq9 for p in points], stroke_style={"width": 3})
    chart.add(
        "GAD-7",
        [p.gad7 for p in points],
        stroke_style={"width": 3, "dasharray": "8, 4"},
    )
    count = len(points)
    chart.add(
        f"remission: PHQ-9 below {policy.remission_below}",
        [policy.remission_below] * count,
        show_dots=False,
        stroke_style={"width": 2, "dasharray": "2, 4"},
    )
    if baseline_phq9 is not None:
        response_at = baseline_phq9 * (1 - policy.response_drop_fraction)
        chart.add(
            f"response: {policy.response_drop_fraction:.0%} below baseline ({response_at:g})",
            [response_at] * count,
            show_dots=False,
            stroke_style={"width": 2, "dasharray": "12, 4, 2, 4"},
        )
    return picture(chart)
