"""The program report as CSV and as a printable HTML page (and its PDF)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.reports.charts import data_uri, endings_svg, rates_svg
from api.reports.pdf import html_to_pdf
from schemas.outcomes_report import ProgramReport

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

CSV_HEADER = ("figure", "label", "group", "statistic", "value", "method")


def report_csv(report: ProgramReport) -> str:
    """One row per number: figure, its label, a group (level, ending), the statistic."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(CSV_HEADER)
    for name in ("episodes_started", "episodes_ended"):
        figure = getattr(report, name)
        w.writerow((name, figure.label, "", "count", figure.value, figure.method))
    los = report.length_of_stay
    for level, s in los.levels.items():
        for stat in ("episodes", "median_days", "q1_days", "q3_days"):
            w.writerow(
                ("length_of_stay", los.label, level, stat, _cell(getattr(s, stat)), los.method)
            )
    for kind, count in report.endings.counts.items():
        w.writerow(("endings", report.endings.label, kind, "count", count, report.endings.method))
    for name, rate in report.rates().items():
        for stat in ("numerator", "denominator", "lacking", "pending", "rate"):
            w.writerow((name, rate.label, "", stat, _cell(getattr(rate, stat)), rate.method))
    return out.getvalue()


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def report_html(report: ProgramReport) -> str:
    """The printable page: every figure with its method, charts inline as SVG images."""
    return TEMPLATES.get_template("program_report.html").render(
        report=report,
        rates=report.rates(),
        rates_chart=data_uri(rates_svg(report)),
        endings_chart=data_uri(endings_svg(report)),
    )


def report_pdf(report: ProgramReport) -> bytes:
    return html_to_pdf(report_html(report))
