"""X12 270 building and 271 parsing, against hand-written synthetic interchanges."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activities.ports import PayerDataError
from activities.x12 import (
    PayerUnavailableError,
    Submitter,
    build_270,
    control_number,
    parse_271,
    read_separators,
    split_segments,
    trace_number,
)
from schemas.payer import AuthRequirement, EligibilityRequest

NOW = datetime(2025, 5, 6, 13, 45, tzinfo=UTC)
MEMBER = "ZX9988776655"  # synthetic
REQUEST = EligibilityRequest(
    request_id="care-episode-3f2a9c4e-0000-4000-8000-000000000001-4",
    payer_id="60054",
    member_id=MEMBER,
    service_types=["MH", "CH", "BB"],
)

# A complete, literal 271 (synthetic): active, IOP-ish MH benefits, in- and out-of-network.
LITERAL_271 = (
    "ISA*00*          *00*          *ZZ*CLEARINGHOUSE  *ZZ*CAREPATH       "
    "*250506*1346*^*00501*000000907*0*T*:~\n"
    """\
GS*HB*CLEARINGHOUSE*CAREPATH*20250506*1346*907*X*005010X279A1~
ST*271*0001*005010X279A1~
BHT*0022*11*TRACE0001*20250506*1346~
HL*1**20*1~
NM1*PR*2*SYNTHETIC HEALTH PLAN*****PI*60054~
HL*2*1*21*1~
NM1*1P*2*CAREPATH PROGRAM*****XX*1234567893~
HL*3*2*22*0~
TRN*2*TRACE0001*9000000000~
NM1*IL*1*DOE*JANE****MI*ZX9988776655~
DTP*346*D8*20250101~
EB*1*IND*30*HM*SYNTHETIC GOLD~
EB*1*IND*MH^CH~
EB*B*IND*MH^CH*HM**27*25~
EB*B*IND*MH^CH*HM**27*60*****N~
EB*A*IND*MH^CH*HM****.2****Y~
EB*A*IND*MH^CH*HM****.5****N~
EB*C*IND*30*HM**23*1500~
EB*1*IND*BB*HM*******Y~
SE*19*0001~
GE*1*907~
IEA*1*000000907~
"""
)


def interchange(
    body: list[list[str]],
    *,
    element: str = "*",
    component: str = ":",
    repetition: str = "^",
    terminator: str = "~",
    newline: str = "",
    transaction: str = "271",
) -> str:
    """A synthetic 271 with the given body (after ST/BHT, before SE) and separators."""
    isa = element.join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            "ZZ",
            "CLEARINGHOUSE".ljust(15),
            "ZZ",
            "CAREPATH".ljust(15),
            "250506",
            "1346",
            repetition,
            "00501",
            "000000042",
            "0",
            "T",
            component,
        ]
    )
    header = [
        ["ST", transaction, "0001", "005010X279A1"],
        ["BHT", "0022", "11", "TRACE0042", "20250506", "1346"],
        ["HL", "1", "", "20", "1"],
        ["NM1", "PR", "2", "SYNTHETIC HEALTH PLAN", "", "", "", "", "PI", "60054"],
        ["HL", "2", "1", "22", "0"],
        ["TRN", "2", "TRACE0042", "9000000000"],
        ["NM1", "IL", "1", "DOE", "JANE", "", "", "", "MI", MEMBER],
    ]
    transaction_segments = [*header, *body]
    transaction_segments.append(["SE", str(len(transaction_segments) + 1), "0001"])
    segments = [
        ["GS", "HB", "CLEARINGHOUSE", "CAREPATH", "20250506", "1346", "42", "X", "005010X279A1"],
        *transaction_segments,
        ["GE", "1", "42"],
        ["IEA", "1", "000000042"],
    ]
    rendered = [isa] + [element.join(s) for s in segments]
    return (terminator + newline).join(rendered) + terminator + newline


def parse(text: str, **kwargs: object) -> object:
    return parse_271(text, checked_at=NOW, **kwargs)  # type: ignore[arg-type]


# --- 270 ---------------------------------------------------------------------------------


def test_270_has_the_envelope_and_loops_in_order() -> None:
    text = build_270(REQUEST, Submitter(), NOW)
    ids = [s[0] for s in split_segments(text, read_separators(text))]
    assert ids == [
        "ISA",
        "GS",
        "ST",
        "BHT",
        "HL",
        "NM1",
        "HL",
        "NM1",
        "HL",
        "TRN",
        "NM1",
        "DTP",
        "EQ",
        "EQ",
        "EQ",
        "SE",
        "GE",
        "IEA",
    ]


def test_270_isa_is_fixed_width_and_declares_its_separators() -> None:
    text = build_270(REQUEST, Submitter(), NOW)
    isa = text[:106]
    assert len(isa.split("*")) == 17
    assert isa[105] == "~"
    separators = read_separators(text)
    assert (separators.element, separators.component, separators.repetition) == ("*", ":", "^")
    assert isa.split("*")[9:11] == ["250506", "1345"]
    assert isa.split("*")[15] == "T"
    assert build_270(REQUEST, Submitter(production=True), NOW)[:106].split("*")[15] == "P"


def test_270_segments_carry_payer_provider_member_and_service_types() -> None:
    text = build_270(REQUEST, Submitter(provider_npi="1999999984"), NOW)
    segments = split_segments(text, read_separators(text))
    by_id: dict[str, list[list[str]]] = {}
    for segment in segments:
        by_id.setdefault(segment[0], []).append(segment)
    assert by_id["ST"][0] == ["ST", "270", "0001", "005010X279A1"]
    assert by_id["BHT"][0][1:3] == ["0022", "13"]
    assert [h[1:] for h in by_id["HL"]] == [
        ["1", "", "20", "1"],
        ["2", "1", "21", "1"],
        ["3", "2", "22", "0"],
    ]
    payer, provider, member = by_id["NM1"]
    assert (payer[1], payer[8], payer[9]) == ("PR", "PI", "60054")
    assert (provider[1], provider[8], provider[9]) == ("1P", "XX", "1999999984")
    assert (member[1], member[8], member[9]) == ("IL", "MI", MEMBER)
    assert by_id["TRN"][0][1:3] == ["1", trace_number(REQUEST.request_id)]
    assert by_id["DTP"][0] == ["DTP", "291", "D8", "20250506"]
    assert [eq[1] for eq in by_id["EQ"]] == ["MH", "CH", "BB"]


def test_270_counts_and_control_numbers_agree() -> None:
    text = build_270(REQUEST, Submitter(), NOW, control=1234)
    segments = split_segments(text, read_separators(text))
    ids = [s[0] for s in segments]
    st, se = ids.index("ST"), ids.index("SE")
    assert segments[se][1] == str(se - st + 1)
    assert segments[se][2] == segments[st][2]
    assert segments[0][13] == "000001234"
    assert segments[1][6] == "1234" == segments[ids.index("GE")][2]
    assert segments[-1] == ["IEA", "1", "000001234"]


def test_270_is_stable_for_the_same_request_and_time() -> None:
    assert build_270(REQUEST, Submitter(), NOW) == build_270(REQUEST, Submitter(), NOW)
    assert 1 <= control_number(REQUEST.request_id) <= 999_999_999
    assert control_number("a") != control_number("b")
    assert len(trace_number(REQUEST.request_id)) <= 50


def test_270_asks_once_per_distinct_service_type() -> None:
    request = REQUEST.model_copy(update={"service_types": ["MH", "MH", "30"]})
    text = build_270(request, Submitter(), NOW)
    assert [s[1] for s in split_segments(text, read_separators(text)) if s[0] == "EQ"] == [
        "MH",
        "30",
    ]


@pytest.mark.parametrize("codes", [[], ["XX"], ["MH", "IOP"]])
def test_270_rejects_missing_or_unknown_service_types(codes: list[str]) -> None:
    with pytest.raises(ValueError, match="service type"):
        build_270(REQUEST.model_copy(update={"service_types": codes}), Submitter(), NOW)


@pytest.mark.parametrize("member", ["AB*12", "AB~12", "AB:12", "AB^12", "AB\n12", ""])
def test_270_refuses_member_ids_that_would_break_the_interchange_without_echoing_them(
    member: str,
) -> None:
    with pytest.raises(ValueError) as raised:
        build_270(REQUEST.model_copy(update={"member_id": member}), Submitter(), NOW)
    if member:
        assert member not in str(raised.value)


def test_270_rejects_interchange_ids_longer_than_isa_allows() -> None:
    with pytest.raises(ValueError, match="ISA06"):
        build_270(REQUEST, Submitter(sender_id="X" * 16), NOW)


@given(
    st.sampled_from(["MH", "AI", "CH", "CJ", "BB", "30"]),
    st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=20),
)
def test_270_round_trips_member_id_and_service_type(code: str, member: str) -> None:
    request = REQUEST.model_copy(update={"member_id": member, "service_types": [code]})
    text = build_270(request, Submitter(), NOW)
    segments = split_segments(text, read_separators(text))
    assert ["NM1", "IL", "1", "", "", "", "", "", "MI", member] in segments
    assert ["EQ", code] in segments


# --- 271: benefits ---------------------------------------------------------------------------


def test_literal_271_reads_active_copay_coinsurance_and_authorization() -> None:
    result = parse_271(LITERAL_271, checked_at=NOW, service_types=["MH", "CH"])
    assert result.active is True
    assert result.copay == 25.0  # in-network copay, not the 60.00 out-of-network one
    assert result.coinsurance_pct == 20.0  # EB08 .2 in-network
    assert result.authorization is AuthRequirement.UNKNOWN  # no EB11 on MH/CH lines
    assert result.checked_at == NOW


def test_literal_271_partial_hospitalization_requires_authorization() -> None:
    result = parse_271(LITERAL_271, checked_at=NOW, service_types=["BB"])
    assert result.active is True
    assert result.authorization is AuthRequirement.REQUIRED
    assert result.copay is None


def test_literal_271_echoes_the_trace() -> None:
    parse_271(LITERAL_271, checked_at=NOW, expected_trace="TRACE0001")
    with pytest.raises(ValueError, match="TRN"):
        parse_271(LITERAL_271, checked_at=NOW, expected_trace="SOMEONE-ELSE")


def test_inactive_coverage() -> None:
    text = interchange([["EB", "6", "IND", "30"]])
    assert parse_271(text, checked_at=NOW).active is False


def test_inactive_for_mental_health_wins_over_plan_level_active() -> None:
    text = interchange([["EB", "1", "IND", "30"], ["EB", "6", "IND", "MH"]])
    assert parse_271(text, checked_at=NOW, service_types=["MH"]).active is False


def test_plan_level_status_applies_when_the_service_type_has_no_line() -> None:
    text = interchange([["EB", "1", "IND", "30"], ["EB", "B", "IND", "30", "", "", "27", "40"]])
    result = parse_271(text, checked_at=NOW, service_types=["AI"])
    assert result.active is True
    assert result.copay == 40.0


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["Y"], AuthRequirement.REQUIRED),
        (["N"], AuthRequirement.NOT_REQUIRED),
        (["U"], AuthRequirement.UNKNOWN),
        (["N", "Y"], AuthRequirement.REQUIRED),  # any Y: ask for authorization
        (["N", "U"], AuthRequirement.UNKNOWN),
        ([""], AuthRequirement.UNKNOWN),
    ],
)
def test_eb11_authorization_flag(flags: list[str], expected: AuthRequirement) -> None:
    body = [["EB", "1", "IND", "MH", "", "", "", "", "", "", "", flag] for flag in flags]
    assert parse_271(interchange(body), checked_at=NOW).authorization is expected


def test_deductible_alone_is_not_a_copay_or_coinsurance() -> None:
    text = interchange([["EB", "1", "IND", "MH"], ["EB", "C", "IND", "MH", "", "", "23", "500"]])
    result = parse_271(text, checked_at=NOW)
    assert (result.copay, result.coinsurance_pct) == (None, None)


@pytest.mark.parametrize(("eb08", "pct"), [("0", 0.0), (".1", 10.0), ("0.35", 35.0), ("1", 100.0)])
def test_eb08_fraction_becomes_a_percentage(eb08: str, pct: float) -> None:
    text = interchange([["EB", "1", "IND", "MH"], ["EB", "A", "IND", "MH", "", "", "", "", eb08]])
    assert parse_271(text, checked_at=NOW).coinsurance_pct == pct


def test_separators_are_read_from_the_isa_header() -> None:
    body = [
        ["EB", "1", "IND", "MH!CH"],
        ["EB", "B", "IND", "MH!CH", "HM", "", "27", "15"],
        ["EB", "1", "IND", "BB", "", "", "", "", "", "", "", "Y"],
    ]
    text = interchange(body, element="|", component=">", repetition="!", terminator="\n")
    assert text.count("*") == 0
    result = parse_271(text, checked_at=NOW, service_types=["CH"])
    assert result.active is True
    assert result.copay == 15.0
    assert result.authorization is AuthRequirement.UNKNOWN


def test_in_network_cost_share_is_preferred_whatever_the_order() -> None:
    out_of_network = ["EB", "B", "IND", "MH", "", "", "27", "80", "", "", "", "", "N"]
    in_network = ["EB", "B", "IND", "MH", "", "", "27", "20", "", "", "", "", "Y"]
    text = interchange([["EB", "1", "IND", "MH"], out_of_network, in_network])
    assert parse_271(text, checked_at=NOW).copay == 20.0


def test_line_breaks_after_terminators_are_tolerated() -> None:
    text = interchange([["EB", "1", "IND", "MH"]], newline="\r\n")
    assert parse_271(text, checked_at=NOW).active is True


# --- 271: rejections ------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["72", "73", "75", "76", "43", "T4"])
def test_aaa_data_rejections_raise_payer_data_error_without_identifiers(code: str) -> None:
    text = interchange([["AAA", "N", "", code, "C"]])
    with pytest.raises(PayerDataError) as raised:
        parse_271(text, checked_at=NOW)
    assert f"AAA03 {code}" in str(raised.value)
    assert MEMBER not in str(raised.value)


def test_aaa_member_not_found_is_described() -> None:
    with pytest.raises(PayerDataError, match="subscriber/insured not found"):
        parse_271(interchange([["AAA", "Y", "", "75", "C"]]), checked_at=NOW)


def test_rejection_wins_even_when_benefits_are_present() -> None:
    text = interchange([["EB", "1", "IND", "30"], ["AAA", "N", "", "72", "C"]])
    with pytest.raises(PayerDataError):
        parse_271(text, checked_at=NOW)


@pytest.mark.parametrize("code", ["42", "80"])
def test_payer_unable_to_respond_is_retryable_not_a_data_error(code: str) -> None:
    with pytest.raises(PayerUnavailableError) as raised:
        parse_271(interchange([["AAA", "Y", "", code, "R"]]), checked_at=NOW)
    assert not isinstance(raised.value, ValueError)


# --- 271: malformed -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "ISA"),
        ("hello world", "ISA"),
        ("ISA*00*short~", "ISA"),
        (LITERAL_271.replace("ST*271", "ST*999"), "expected a 271"),
        (LITERAL_271.replace("SE*19*", "SE*20*"), "SE01"),
        (LITERAL_271.split("\nSE*")[0], "no SE"),
        (LITERAL_271.replace("EB*1*IND*30*HM*SYNTHETIC GOLD~", "EB~"), "EB01"),
        (LITERAL_271.replace("*27*25~", "*27*twenty~"), "EB07"),
        (LITERAL_271.replace("****.2*", "****20*"), "EB08"),
    ],
)
def test_malformed_271_raises_a_clear_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        parse_271(text, checked_at=NOW)
    assert not isinstance(raised.value, PayerDataError)


def test_271_without_any_coverage_status_is_malformed() -> None:
    text = interchange([["EB", "B", "IND", "MH", "", "", "27", "25"]])
    with pytest.raises(ValueError, match="no coverage status"):
        parse_271(text, checked_at=NOW)


def test_isa_with_a_letter_as_separator_is_rejected() -> None:
    text = interchange([["EB", "1", "IND", "MH"]])
    broken = text[:104] + "A" + text[105:]
    with pytest.raises(ValueError, match="separators"):
        parse_271(broken, checked_at=NOW)


# --- robustness -----------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=len(LITERAL_271)), st.text(max_size=8))
def test_a_damaged_271_fails_only_with_a_value_error(cut: int, noise: str) -> None:
    """Truncated or spliced input never escapes as IndexError, KeyError or the like."""
    damaged = LITERAL_271[:cut] + noise + LITERAL_271[cut + len(noise) :]
    with contextlib.suppress(ValueError, PayerUnavailableError):
        parse_271(damaged, checked_at=NOW)


@given(st.text(max_size=300))
def test_arbitrary_text_fails_only_with_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_271("ISA" + text, checked_at=NOW)
