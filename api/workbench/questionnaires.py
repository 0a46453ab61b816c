"""The wording of the measures the forms ask (PHQ-9 and GAD-7 are public domain; the
C-SSRS screener's six questions are Columbia's free-to-use screen version).

One table per instrument, in item order; the forms and (later) the patient's
questionnaire page render from these, and the submission models validate the answers.
"""

from __future__ import annotations

from typing import Final

PHQ9_STEM: Final = (
    "Over the last 2 weeks, how often has the patient been bothered by any of the following "
    "problems?"
)
PHQ9_ITEMS: Final[tuple[str, ...]] = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself — or that you are a failure or have let yourself or your "
    "family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite — "
    "being so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
)

# The patient's own page asks in the second person (the instruments' original wording).
PHQ9_PATIENT_STEM: Final = (
    "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
)
GAD7_PATIENT_STEM: Final = (
    "Over the last 2 weeks, how often have you been bothered by the following problems?"
)

GAD7_STEM: Final = (
    "Over the last 2 weeks, how often has the patient been bothered by the following problems?"
)
GAD7_ITEMS: Final[tuple[str, ...]] = (
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid as if something awful might happen",
)

# The four answers both instruments share, scored 0-3.
FREQUENCY_CHOICES: Final[tuple[tuple[int, str], ...]] = (
    (0, "Not at all"),
    (1, "Several days"),
    (2, "More than half the days"),
    (3, "Nearly every day"),
)

CSSRS_ITEMS: Final[tuple[str, ...]] = (
    "In the past month, have you wished you were dead or wished you could go to sleep and "
    "not wake up?",
    "In the past month, have you actually had any thoughts of killing yourself?",
    "In the past month, have you been thinking about how you might do this?",
    "In the past month, have you had these thoughts and had some intention of acting on them?",
    "In the past month, have you started to work out or worked out the details of how to "
    "kill yourself? Do you intend to carry out this plan?",
    "Have you ever done anything, started to do anything, or prepared to do anything to end "
    "your life?",
)
CSSRS_BEHAVIOUR_FOLLOW_UP: Final = "If yes to the last question: was this within the past 3 months?"
