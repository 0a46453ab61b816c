"""The words a patient receives: the same content-free line whatever happened, with no
clinical detail and no program name (42 CFR Part 2 programs included)."""

from __future__ import annotations

import hashlib

SUBJECT = "A message from your care team"
TEXT = "You have a new message from your care team."
SMS_TEXT = TEXT + " Reply STOP to opt out."
LINK_LEAD = "Please answer a few questions here:"
QUESTIONNAIRE_PARAM = "questionnaire"


def email_text(link: str | None) -> str:
    return f"{TEXT}\n\n{LINK_LEAD}\n{link}\n" if link else TEXT


def sms_text(link: str | None) -> str:
    return f"{TEXT} {LINK_LEAD} {link} Reply STOP to opt out." if link else SMS_TEXT


def opaque_reference(message_id: str) -> str:
    """A stable reference to the outbox row for headers a gateway keeps (Message-ID), that
    does not carry the episode ID outside our walls."""
    return hashlib.sha256(message_id.encode()).hexdigest()[:32]
