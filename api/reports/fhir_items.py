"""The PHQ-9 and GAD-7 items as LOINC codes them (panels 44249-1 and 69737-5), in item
order, with the questions' public-domain wording: the QuestionnaireResponse items when
the records hold every item answer."""

from __future__ import annotations

from typing import Final

PHQ9_ITEMS: Final[tuple[tuple[str, str], ...]] = (
    ("44250-9", "Little interest or pleasure in doing things"),
    ("44255-8", "Feeling down, depressed, or hopeless"),
    ("44259-0", "Trouble falling or staying asleep, or sleeping too much"),
    ("44254-1", "Feeling tired or having little energy"),
    ("44251-7", "Poor appetite or overeating"),
    (
        "44258-2",
        "Feeling bad about yourself - or that you are a failure or have let yourself or "
        "your family down",
    ),
    (
        "44252-5",
        "Trouble concentrating on things, such as reading the newspaper or watching television",
    ),
    (
        "44253-3",
        "Moving or speaking so slowly that other people could have noticed? Or the "
        "opposite - being so fidgety or restless that you have been moving around a lot "
        "more than usual",
    ),
    ("44260-8", "Thoughts that you would be better off dead, or of hurting yourself in some way"),
)
GAD7_ITEMS: Final[tuple[tuple[str, str], ...]] = (
    ("69725-0", "Feeling nervous, anxious, or on edge"),
    ("68509-9", "Not being able to stop or control worrying"),
    ("69733-4", "Worrying too much about different things"),
    ("69734-2", "Trouble relaxing"),
    ("69735-9", "Being so restless that it is hard to sit still"),
    ("69689-8", "Becoming easily annoyed or irritable"),
    ("69736-7", "Feeling afraid, as if something awful might happen"),
)
assert len(PHQ9_ITEMS) == 9 and len(GAD7_ITEMS) == 7


def answered_items(
    codes: tuple[tuple[str, str], ...], answers: list[int]
) -> list[dict[str, object]]:
    """QuestionnaireResponse items, one per question, each answered 0-3."""
    if len(answers) != len(codes):
        raise ValueError(f"{len(codes)} item answers expected, got {len(answers)}")
    return [
        {"linkId": code, "text": text, "answer": [{"valueInteger": int(value)}]}
        for (code, text), value in zip(codes, answers, strict=True)
    ]
