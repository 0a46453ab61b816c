"""X12 005010X279A1 eligibility: build the 270 inquiry, read the 271 answer.

Pure text in, text out: no I/O and no logging, so the member ID the 270 must carry
never reaches a log line. Error messages name segments and codes, never values,
because activity failures are stored unencrypted in Temporal's history.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from activities.ports import PayerDataError
from schemas.payer import AuthRequirement, EligibilityRequest, EligibilityResult

# Service type codes DESIGN.md names (there is no IOP-specific code).
SERVICE_TYPE_CODES: frozenset[str] = frozenset({"MH", "AI", "CH", "CJ", "BB", "30"})

IMPLEMENTATION = "005010X279A1"
ELEMENT_SEP = "*"
COMPONENT_SEP = ":"
REPETITION_SEP = "^"
SEGMENT_TERMINATOR = "~"
_ISA_LENGTH = 106  # fixed width, terminator included

# EB01 eligibility/benefit codes: 1-5 are active coverage, 6-8 inactive.
_ACTIVE = frozenset({"1", "2", "3", "4", "5"})
_INACTIVE = frozenset({"6", "7", "8"})
_COINSURANCE = "A"
_COPAY = "B"

# AAA03 codes that mean "the payer could not answer now": worth a retry later.
_PAYER_BUSY = frozenset({"42", "80"})
_AAA_REASONS: dict[str, str] = {
    "15": "required application data missing",
    "41": "authorization/access restrictions",
    "42": "unable to respond at current time",
    "43": "invalid/missing provider identification",
    "58": "invalid/missing date of birth",
    "64": "invalid/missing patient ID",
    "65": "invalid/missing patient name",
    "67": "patient not found",
    "71": "patient birth date does not match",
    "72": "invalid/missing subscriber/insured ID",
    "73": "invalid/missing subscriber/insured name",
    "75": "subscriber/insured not found",
    "76": "duplicate subscriber/insured ID",
    "79": "invalid participant identification",
    "80": "no response received, transaction terminated",
    "T4": "payer name or identifier missing",
}


class PayerUnavailableError(Exception):
    """The payer or clearinghouse could not answer now (busy, 5xx, timeout): retry later."""


@dataclass(frozen=True)
class Submitter:
    """Who sends the 270: interchange IDs and the requesting provider (loop 2100B)."""

    sender_id: str = "CAREPATH"
    receiver_id: str = "CLEARINGHOUSE"
    provider_name: str = "CAREPATH PROGRAM"
    provider_npi: str = "1234567893"  # CMS's example NPI; configure the real one
    originator_id: str = "9000000000"  # TRN03: "9" + a 9-digit company ID
    production: bool = False  # ISA15: T (test) until the clearinghouse says otherwise


@dataclass(frozen=True)
class Separators:
    element: str
    component: str
    repetition: str
    segment: str


def trace_number(request_id: str) -> str:
    """TRN02 trace: a stable digest of request_id (workflow IDs outgrow TRN02's 50 chars)."""
    return hashlib.sha256(request_id.encode()).hexdigest()[:30].upper()


def control_number(request_id: str) -> int:
    """A stable 1..999999999 interchange/group control number for this request."""
    digest = int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big")
    return digest % 999_999_999 + 1


def build_270(
    request: EligibilityRequest, submitter: Submitter, now: datetime, *, control: int | None = None
) -> str:
    """The 270 inquiry for one subscriber, one EQ per requested service type."""
    service_types = list(dict.fromkeys(request.service_types))
    if not service_types:
        raise ValueError("a 270 needs at least one service type code")
    unknown = sorted(set(service_types) - SERVICE_TYPE_CODES)
    if unknown:
        raise ValueError(f"unsupported service type codes: {', '.join(unknown)}")
    if not request.payer_id or not request.member_id:
        raise ValueError("a 270 needs a payer ID and a member ID")
    number = control if control is not None else control_number(request.request_id)
    if not 1 <= number <= 999_999_999:
        raise ValueError("control number must be 1..999999999")

    ccyymmdd, hhmm = now.strftime("%Y%m%d"), now.strftime("%H%M")
    isa = ELEMENT_SEP.join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            "ZZ",
            _fixed(submitter.sender_id, 15, "ISA06"),
            "ZZ",
            _fixed(submitter.receiver_id, 15, "ISA08"),
            now.strftime("%y%m%d"),
            hhmm,
            REPETITION_SEP,
            "00501",
            f"{number:09d}",
            "0",
            "P" if submitter.production else "T",
            COMPONENT_SEP,
        ]
    )
    body: list[list[str]] = [
        ["ST", "270", "0001", IMPLEMENTATION],
        ["BHT", "0022", "13", trace_number(request.request_id), ccyymmdd, hhmm],
        ["HL", "1", "", "20", "1"],
        ["NM1", "PR", "2", request.payer_id, "", "", "", "", "PI", request.payer_id],
        ["HL", "2", "1", "21", "1"],
        ["NM1", "1P", "2", submitter.provider_name, "", "", "", "", "XX", submitter.provider_npi],
        ["HL", "3", "2", "22", "0"],
        ["TRN", "1", trace_number(request.request_id), submitter.originator_id],
        *_subscriber_segments(request),
        ["DTP", "291", "D8", ccyymmdd],
        *(["EQ", code] for code in service_types),
    ]
    body.append(["SE", str(len(body) + 1), "0001"])
    envelope: list[list[str]] = [
        [
            "GS",
            "HS",
            submitter.sender_id,
            submitter.receiver_id,
            ccyymmdd,
            hhmm,
            str(number),
            "X",
            IMPLEMENTATION,
        ],
        *body,
        ["GE", "1", str(number)],
        ["IEA", "1", f"{number:09d}"],
    ]
    segments = [isa] + [_segment(elements) for elements in envelope]
    return SEGMENT_TERMINATOR.join(segments) + SEGMENT_TERMINATOR


def _subscriber_segments(request: EligibilityRequest) -> list[list[str]]:
    """Loop 2100C: NM1*IL with the subscriber's name when the store knew it (engine V3: the
    activity read it by episode), and DMG with the date of birth; else the member ID alone."""
    who = request.subscriber
    last = _x12_text(who.last_name, 60) if who and who.last_name else ""
    first = _x12_text(who.first_name, 35) if who and who.first_name else ""
    segments = [["NM1", "IL", "1", last, first, "", "", "", "MI", request.member_id or ""]]
    if who is not None and who.birth_date is not None:
        segments.append(["DMG", "D8", who.birth_date.strftime("%Y%m%d")])
    return segments


def _x12_text(value: str, width: int) -> str:
    """A name as X12 takes it: upper case, separators and control characters as spaces."""
    cleaned = "".join(" " if c in _RESERVED or ord(c) < 32 else c for c in value.upper())
    return " ".join(cleaned.split())[:width]


def parse_271(
    text: str,
    *,
    checked_at: datetime,
    service_types: Iterable[str] = ("MH", "CH"),
    expected_trace: str | None = None,
) -> EligibilityResult:
    """Coverage status, cost share and the authorization flag from a 271.

    Raises PayerDataError when the payer rejected the inquiry's data (AAA, e.g. 72/73/75),
    PayerUnavailableError when it could not answer now (AAA 42/80), and ValueError when
    the text is not a well-formed 271.
    """
    separators = read_separators(text)
    segments = split_segments(text, separators)
    _check_transaction(segments)
    if expected_trace is not None:
        _check_trace(segments, expected_trace)
    _raise_on_rejection(segments)

    benefits = [_Benefit.from_segment(s, separators) for s in segments if s[0] == "EB"]
    relevant = _relevant(benefits, set(service_types))
    statuses = [b.code for b in relevant if b.code in _ACTIVE | _INACTIVE]
    if not statuses:
        statuses = [b.code for b in benefits if b.code in _ACTIVE | _INACTIVE]
    if not statuses:
        raise ValueError("271 carries no coverage status (no EB01 in 1-8)")
    return EligibilityResult(
        active=any(code in _ACTIVE for code in statuses),
        authorization=_authorization(relevant),
        copay=_first(
            (b.amount for b in _by_network(relevant) if b.code == _COPAY),
        ),
        coinsurance_pct=_first(
            (b.percent for b in _by_network(relevant) if b.code == _COINSURANCE),
        ),
        checked_at=checked_at,
    )


def read_separators(text: str) -> Separators:
    """Element, component, repetition and segment separators, as the ISA header declares."""
    stripped = text.lstrip()
    if not stripped.startswith("ISA") or len(stripped) < _ISA_LENGTH:
        raise ValueError("not an X12 interchange: it must start with a 106-character ISA")
    element = stripped[3]
    isa = stripped[:_ISA_LENGTH]
    if isa.count(element) != 16:
        raise ValueError("malformed ISA header: expected 16 fixed-width elements")
    separators = Separators(
        element=element, component=isa[104], repetition=isa[82], segment=isa[105]
    )
    used = [separators.element, separators.component, separators.segment]
    if len(set(used)) != len(used) or any(c.isalnum() for c in used):
        raise ValueError("malformed ISA header: separators must be distinct punctuation")
    return separators


def split_segments(text: str, separators: Separators) -> list[list[str]]:
    """Segments as lists of elements; line breaks after terminators are ignored."""
    segments: list[list[str]] = []
    for raw in text.strip().split(separators.segment):
        cleaned = raw.strip("\r\n \t")
        if cleaned:
            segments.append(cleaned.split(separators.element))
    return segments


@dataclass(frozen=True)
class _Benefit:
    code: str
    service_types: frozenset[str]
    amount: float | None
    percent: float | None
    authorization: str
    in_network: str

    @classmethod
    def from_segment(cls, segment: list[str], separators: Separators) -> _Benefit:
        def element(position: int) -> str:
            return segment[position] if len(segment) > position else ""

        if not element(1):
            raise ValueError("EB segment without EB01")
        return cls(
            code=element(1),
            service_types=_repeated(element(3), separators.repetition),
            amount=_decimal(element(7), "EB07"),
            percent=_percent(element(8)),
            authorization=element(11),
            in_network=element(12),
        )


def _repeated(value: str, repetition: str) -> frozenset[str]:
    """EB03 may repeat (5010 ISA11); a 4010-style ISA11 letter means no repetition."""
    if repetition.isalnum():
        return frozenset({value} - {""})
    return frozenset(t for t in value.split(repetition) if t)


def _relevant(benefits: list[_Benefit], requested: set[str]) -> list[_Benefit]:
    """Benefits for the requested service types, else plan-level ones (30 or none)."""
    matching = [b for b in benefits if b.service_types & requested]
    plan_level = [b for b in benefits if not b.service_types or "30" in b.service_types]
    return matching or plan_level


def _by_network(benefits: list[_Benefit]) -> list[_Benefit]:
    """In-network first (EB12 Y), then unspecified, out-of-network (N) last."""
    rank = {"Y": 0, "W": 1, "": 1, "U": 1, "N": 2}
    return sorted(benefits, key=lambda b: rank.get(b.in_network, 1))


def _authorization(benefits: list[_Benefit]) -> AuthRequirement:
    """Any Y means required (the safe reading); N only when no benefit says otherwise."""
    flags = {b.authorization for b in benefits if b.authorization}
    if AuthRequirement.REQUIRED.value in flags:
        return AuthRequirement.REQUIRED
    if flags == {AuthRequirement.NOT_REQUIRED.value}:
        return AuthRequirement.NOT_REQUIRED
    return AuthRequirement.UNKNOWN


def _raise_on_rejection(segments: list[list[str]]) -> None:
    for segment in segments:
        if segment[0] != "AAA":
            continue
        code = segment[3] if len(segment) > 3 else ""
        follow_up = segment[4] if len(segment) > 4 else ""
        reason = _AAA_REASONS.get(code, "unlisted reason")
        message = f"payer rejected the 271 inquiry: AAA03 {code or '?'} ({reason})"
        if follow_up:
            message += f", follow-up AAA04 {follow_up}"
        if code in _PAYER_BUSY:
            raise PayerUnavailableError(message)
        raise PayerDataError(message)


def _check_transaction(segments: list[list[str]]) -> None:
    ids = [s[0] for s in segments]
    for required in ("ISA", "GS", "ST", "SE", "GE", "IEA"):
        if required not in ids:
            raise ValueError(f"truncated X12: no {required} segment")
    st = segments[ids.index("ST")]
    if len(st) < 2 or st[1] != "271":
        kind = st[1] if len(st) > 1 else "?"
        raise ValueError(f"expected a 271 transaction, got ST01 {kind}")
    se = segments[ids.index("SE")]
    counted = ids.index("SE") - ids.index("ST") + 1
    if len(se) < 2 or se[1] != str(counted):
        raise ValueError(f"SE01 segment count does not match the {counted} segments sent")


def _check_trace(segments: list[list[str]], expected: str) -> None:
    traces = [s[2] for s in segments if s[0] == "TRN" and len(s) > 2]
    if expected not in traces:
        raise ValueError("271 does not echo this inquiry's TRN trace number")


def _decimal(value: str, name: str) -> float | None:
    if not value:
        return None
    try:
        return float(Decimal(value))
    except InvalidOperation:
        raise ValueError(f"{name} is not a number") from None


def _percent(value: str) -> float | None:
    """EB08 is a fraction (.2 = 20 %); the result holds a percentage."""
    fraction = _decimal(value, "EB08")
    if fraction is None:
        return None
    if not 0 <= fraction <= 1:
        raise ValueError("EB08 must be a fraction between 0 and 1")
    return round(fraction * 100, 4)


def _first(values: Iterable[float | None]) -> float | None:
    return next((v for v in values if v is not None), None)


def _fixed(value: str, width: int, name: str) -> str:
    if len(value) > width:
        raise ValueError(f"{name} is longer than {width} characters")
    return value.ljust(width)


_RESERVED = frozenset({ELEMENT_SEP, COMPONENT_SEP, REPETITION_SEP, SEGMENT_TERMINATOR})


def _segment(elements: list[str]) -> str:
    for position, value in enumerate(elements[1:], start=1):
        if _RESERVED & set(value) or any(ord(c) < 32 for c in value):
            raise ValueError(f"{elements[0]}{position:02d} contains an X12 separator")
    while elements and elements[-1] == "":
        elements = elements[:-1]
    return ELEMENT_SEP.join(elements)
