"""The README's phase diagram is the transition table, not a drawing of it."""

from __future__ import annotations

from pathlib import Path

from rules.diagram import mermaid
from rules.transitions import TRANSITIONS, CarePhase

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_diagram_matches_the_transition_table() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- diagram:start -->")
    end = text.index("<!-- diagram:end -->")
    block = text[start:end]
    assert f"```mermaid\n{mermaid()}\n```" in block, "run `python -m rules.diagram`"


def test_diagram_draws_every_phase_change() -> None:
    drawn = mermaid()
    for (phase, event), step in TRANSITIONS.items():
        if phase is step.to or event.value in ("withdrawn", "entered_in_error"):
            continue
        assert f"{phase.value} --> {step.to.value}: " in drawn
    assert all(phase.value in drawn for phase in CarePhase)
