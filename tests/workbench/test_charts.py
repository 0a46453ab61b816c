"""The score chart is a picture: an SVG with no <script> (pygal writes its config as one
even with `js=[]`), still a well-formed SVG with its series and thresholds."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree

import pygal

from api.workbench.charts import ScorePoint, picture, scores_svg
from rules.policy import ProgramPolicy

SVG = "{http://www.w3.org/2000/svg}svg"


def scripts(svg: bytes) -> list[ElementTree.Element]:
    root = ElementTree.fromstring(svg)
    assert root.tag == SVG
    return [e for e in root.iter() if isinstance(e.tag, str) and e.tag.endswith("script")]


def test_pygal_alone_writes_a_script_even_with_no_js() -> None:
    """The control: what the chart is rendered without."""
    chart = pygal.Line(js=[])
    chart.add("PHQ-9", [16, 9])
    svg = chart.render()
    assert b"<script" in svg and scripts(svg)


def test_the_score_chart_has_no_script_and_is_still_the_chart() -> None:
    points = [
        ScorePoint(datetime(2026, 3, 2, 9, tzinfo=UTC), phq9=16, gad7=12),
        ScorePoint(datetime(2026, 3, 9, 9, tzinfo=UTC), phq9=9, gad7=None),
    ]
    svg = scores_svg(points, baseline_phq9=16, policy=ProgramPolicy())
    assert scripts(svg) == []
    assert b"<script" not in svg and b"window.pygal" not in svg
    assert b"PHQ-9" in svg and b"GAD-7" in svg and b"remission" in svg and b"response" in svg


def test_any_chart_rendered_as_a_picture_loses_only_its_script() -> None:
    chart = pygal.Bar(js=[])
    chart.add("episodes", [3, 1])
    svg = picture(chart)
    assert scripts(svg) == [] and b"episodes" in svg
