"""The words of the patient's pages, in the patient's language where the program provides
a translation.

English is built in (`ENGLISH`: the PHQ-9 and GAD-7 in their public-domain wording, from
`questionnaires`). A program adds a language with a JSON file in
`CAREPATH_PATIENT_TRANSLATIONS_DIR`: every field of `PatientText` (a partial translation
would mix languages on one page), the programs it is for (`"*"`: every program) and the
source of the instruments' wording (the official translation it reproduces). carepath ships
no translation of the instruments: a clinical instrument's translation must be the
validated one, never a new one.

The page picks the text by the patient's language (`contact.language`, BCP 47, kept in
`patient_contacts`): the exact tag for the episode's program, then its primary language
(`es-US` → `es`), else English.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Self

from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.workbench import questionnaires as q

ANY_PROGRAM: Final = "*"
LANGUAGE_TAG: Final = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class InstrumentText(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    heading: str = Field(min_length=1)
    stem: str = Field(min_length=1)
    items: tuple[str, ...]


class PatientText(BaseModel):
    """Every string the patient's pages show. `{number}` in `answer_item` is the question's
    number; `{988}` and `{911}` in the crisis lines become the phone links."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    language: str = Field(pattern=LANGUAGE_TAG)
    source: str = Field(min_length=1, description="where the instruments' wording comes from")
    brand: str
    title: str
    birth_date_intro: str
    birth_date_label: str
    birth_date_hint: str
    continue_button: str
    birth_date_format_error: str
    birth_date_mismatch: str
    birth_date_stale_form: str
    intro: str
    required: str
    error_summary: str
    answer_item: str
    send_button: str
    choices: tuple[str, str, str, str]
    phq9: InstrumentText
    gad7: InstrumentText
    thanks_title: str
    thanks: str
    unavailable_title: str
    unavailable_message: str
    try_later_title: str
    try_later_message: str
    contact_team: str
    crisis_title: str
    crisis_title_urgent: str
    crisis_urgent_lead: str
    crisis_988: str
    crisis_911: str

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if len(self.phq9.items) != len(q.PHQ9_ITEMS):
            raise ValueError(f"phq9 needs {len(q.PHQ9_ITEMS)} items")
        if len(self.gad7.items) != len(q.GAD7_ITEMS):
            raise ValueError(f"gad7 needs {len(q.GAD7_ITEMS)} items")
        if "{number}" not in self.answer_item:
            raise ValueError("answer_item must name the question: {number}")
        if "{988}" not in self.crisis_988 or "{911}" not in self.crisis_911:
            raise ValueError("crisis_988 / crisis_911 must carry {988} / {911}")
        return self

    def answer(self, number: int) -> str:
        return self.answer_item.replace("{number}", str(number))

    def crisis_line(self, which: str) -> Markup:
        """A crisis line with its number as a `tel:` link (the text itself escaped)."""
        text = self.crisis_988 if which == "988" else self.crisis_911
        link = Markup('<a href="tel:{0}"><strong>{0}</strong></a>').format(which)
        return escape(text).replace(Markup("{" + which + "}"), link)

    def choice_pairs(self) -> tuple[tuple[int, str], ...]:
        return tuple(enumerate(self.choices))


ENGLISH: Final = PatientText(
    language="en",
    source="PHQ-9 and GAD-7 (Spitzer, Williams, Kroenke and colleagues), public domain",
    brand="Your care team",
    title="A few questions from your care team",
    birth_date_intro="Before the questions, please confirm your date of birth.",
    birth_date_label="Your date of birth",
    birth_date_hint="For example 1990-03-27",
    continue_button="Continue",
    birth_date_format_error="Enter your date of birth as year-month-day.",
    birth_date_mismatch="That date of birth does not match our records.",
    birth_date_stale_form="This page was open too long: please enter it again.",
    intro="There are no right or wrong answers. Choose the answer that fits best for each "
    "question.",
    required="(required)",
    error_summary="Please answer every question.",
    answer_item="Please answer question {number}.",
    send_button="Send my answers",
    choices=tuple(text for _score, text in q.FREQUENCY_CHOICES),
    phq9=InstrumentText(heading="PHQ-9", stem=q.PHQ9_PATIENT_STEM, items=q.PHQ9_ITEMS),
    gad7=InstrumentText(heading="GAD-7", stem=q.GAD7_PATIENT_STEM, items=q.GAD7_ITEMS),
    thanks_title="Thank you",
    thanks="Your answers were sent to your care team. You can close this page.",
    unavailable_title="This link is not available",
    unavailable_message="This link cannot be used.",
    try_later_title="Please try again later",
    try_later_message="Your answers could not be sent just now. Nothing was lost: please try "
    "again in a few minutes.",
    contact_team="If you need to reach your care team, please contact them directly.",
    crisis_title="If you are in crisis",
    crisis_title_urgent="Please reach out now",
    crisis_urgent_lead="You told us you have had thoughts of being better off dead or of "
    "hurting yourself. Your care team has been told and will contact you. You do not have "
    "to wait:",
    crisis_988="Call or text {988}, the Suicide & Crisis Lifeline (free, any time, day or night).",
    crisis_911="If you are in danger now, call {911} or go to the nearest emergency department.",
)


class TranslationFile(PatientText):
    """One program-provided translation as stored: the text and the programs it is for."""

    programs: tuple[str, ...] = Field(min_length=1)


@dataclass(frozen=True)
class PatientTranslations:
    """(program or `*`, language tag in lower case) → the text; English for the rest."""

    texts: Mapping[tuple[str, str], PatientText] = field(default_factory=dict)

    @classmethod
    def of(cls, files: Iterable[TranslationFile]) -> PatientTranslations:
        texts: dict[tuple[str, str], PatientText] = {}
        for f in files:
            text = PatientText.model_validate(f.model_dump(exclude={"programs"}))
            for program in f.programs:
                key = (program, f.language.lower())
                if key in texts:
                    raise ValueError(f"two translations for {key[0]} in {f.language}")
                texts[key] = text
        return cls(texts)

    @classmethod
    def load(cls, directory: Path | None) -> PatientTranslations:
        """Every `*.json` in `directory` (none: English only); a bad file is an error at
        start-up, not a half-translated page later."""
        if directory is None:
            return cls()
        files = [
            TranslationFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(directory.glob("*.json"))
        ]
        return cls.of(files)

    def for_patient(self, program_id: str | None, language: str | None) -> PatientText:
        if not language:
            return ENGLISH
        tag = language.lower()
        candidates = [tag, tag.split("-", 1)[0]]
        for wanted in candidates:
            for program in (program_id, ANY_PROGRAM):
                found = self.texts.get((program or ANY_PROGRAM, wanted))
                if found is not None:
                    return found
        return ENGLISH
