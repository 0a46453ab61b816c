"""The report's charts as SVG (pygal): rates with their denominators, and how episodes
ended. The same style as the workbench's score chart."""

from __future__ import annotations

import base64

import pygal

from api.workbench.charts import STYLE, picture
from schemas.outcomes_report import ProgramReport

# The rates shown on the chart, in order (IET only for substance-use programs).
CHARTED_RATES: tuple[str, ...] = (
    "response_at_discharge",
    "remission_at_discharge",
    "remission_6_months",
    "remission_12_months",
    "response_6_months",
    "drr_e_followup",
    "fuh_7_days",
    "fuh_30_days",
    "iet_initiation",
    "iet_engagement",
)


def rates_svg(report: ProgramReport) -> bytes:
    chart = pygal.HorizontalBar(
        style=STYLE,
        width=760,
        height=420,
        js=[],
        title="Measures (percent of the denominator)",
        range=(0, 100),
        show_legend=False,
        print_values=True,
        value_formatter=lambda v: f"{v:.0f} %",
        y_labels=[0, 25, 50, 75, 100],
        truncate_label=-1,
    )
    rates = report.rates()
    names = [n for n in reversed(CHARTED_RATES) if n in rates]
    chart.x_labels = [f"{rates[n].label} (n={rates[n].denominator})" for n in names]
    chart.add("rate", [_percent(rates[n].rate) for n in names])
    return picture(chart)


def _percent(rate: float | None) -> float | None:
    return None if rate is None else rate * 100


def endings_svg(report: ProgramReport) -> bytes:
    chart = pygal.Bar(
        style=STYLE,
        width=760,
        height=320,
        js=[],
        title="How episodes ended",
        show_legend=False,
        print_values=True,
        x_label_rotation=0,
        truncate_label=-1,
    )
    counts = report.endings.counts
    chart.x_labels = [kind.replace("_", " ") for kind in counts]
    chart.add("episodes", list(counts.values()))
    return picture(chart)


def data_uri(svg: bytes) -> str:
    """For the printable page and its PDF (the workbench serves charts as documents)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
