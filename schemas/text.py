"""Text a person would type and PostgreSQL can store: the one rule for every free string.

Refused: C0 control characters other than tab, line feed and carriage return (CR stays
because clinic systems on Windows send CRLF line ends in notes), DEL, the C1 controls
(U+0080 to U+009F: never typed, usually mis-decoded bytes) and lone surrogates (not UTF-8;
PostgreSQL cannot store them, nor NUL). Such a string is refused at the schema with a 422
naming the field, so it never reaches a workflow's history, or a record batch that would
fail on every retry.

`PlainText` is the annotation for every free-text field of a request model; combine it
with `Field(max_length=...)` as usual. It is a pattern on the string itself, so the
OpenAPI document shows the rule (and schemathesis exercises it). Lone surrogates are
refused by pydantic's own string check before the pattern is tried.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

# The characters refused, as one class; Python `re`, Rust `regex` and ECMA-262 read it alike.
REFUSED_CLASS = r"\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F"
TEXT_PATTERN = f"^[^{REFUSED_CLASS}]*$"
_REFUSED = re.compile(f"[{REFUSED_CLASS}\\uD800-\\uDFFF]")

TEXT_RULE = (
    "must not contain control characters (other than tab, line feed and carriage return) "
    "or lone surrogates"
)


def refusal(value: str) -> str | None:
    """Why `value` is refused (the character's code point, never the text), or None."""
    found = _REFUSED.search(value)
    if found is None:
        return None
    return f"{TEXT_RULE}: U+{ord(found.group()):04X} at position {found.start()}"


PlainText = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
