"""The transition table drawn as a mermaid state diagram, for the README.

Generated, never hand-drawn: `tests/rules/test_diagram.py` fails when the README's copy
no longer matches the table. Regenerate with `python -m rules.diagram`.
"""

from __future__ import annotations

from collections import defaultdict

from rules.transitions import TERMINAL_PHASES, TRANSITIONS, CarePhase, Event

# Events every open phase accepts; drawn once as a note instead of an arrow from each.
EVERYWHERE = (Event.WITHDRAWN, Event.ENTERED_IN_ERROR)


def mermaid() -> str:
    edges: defaultdict[tuple[CarePhase, CarePhase], list[str]] = defaultdict(list)
    for (phase, event), step in TRANSITIONS.items():
        if event in EVERYWHERE or phase is step.to:
            continue
        edges[(phase, step.to)].append(event.value)
    lines = ["stateDiagram-v2", f"    [*] --> {CarePhase.REFERRAL.value}"]
    for (source, target), events in edges.items():
        lines.append(f"    {source.value} --> {target.value}: {', '.join(sorted(events))}")
    lines += [f"    {phase.value} --> [*]" for phase in sorted(TERMINAL_PHASES)]
    lines.append(
        "    note right of closed: from any open phase, withdrawn → aftercare"
        " (against advice); entered_in_error → closed"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(mermaid())
