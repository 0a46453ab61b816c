"""The 42 CFR 2.32 notices as the 2024 final rule words them: Statement 1 opens a Part 2
program's packet, Statement 2 is at the foot of every page; a non-Part 2 packet has
neither."""

from __future__ import annotations

from api.reports.packet import packet_html
from bench.outcomes_bench import sample_packet
from schemas.review_packet import PART2_NOTICE, PART2_NOTICE_SHORT


def test_the_rules_words() -> None:
    assert PART2_NOTICE_SHORT == (
        "42 CFR part 2 prohibits unauthorized use or disclosure of these records."
    )
    assert PART2_NOTICE.startswith(
        "This record which has been disclosed to you is protected by Federal "
        "confidentiality rules (42 CFR part 2). These rules prohibit you from using or "
        "disclosing this record, or testimony that describes the information contained in "
        "this record, in any civil, criminal, administrative, or legislative proceedings"
    )
    for case in (
        "(i) Further use or disclosure is expressly permitted by the written consent",
        "(ii) You are a covered entity or business associate and have received the record "
        "for treatment, payment, or health care operations, or",
        "(iii) You have received the record from a covered entity or business associate as "
        "permitted by 45 CFR part 164, subparts A and E.",
    ):
        assert case in PART2_NOTICE
    assert PART2_NOTICE.endswith(
        "A general authorization for the release of medical or other information is NOT "
        "sufficient to meet the required elements of written consent to further use or "
        "redisclose the record (see 42 CFR 2.31)."
    )


def test_part2_packet_carries_both_statements_and_others_neither() -> None:
    part2 = sample_packet()  # a Part 2 program's packet
    html = packet_html(part2)
    assert PART2_NOTICE in html
    assert f'content: "{PART2_NOTICE_SHORT}"' in html  # each page's foot
    plain = part2.model_copy(update={"part2_program": False, "part2_notice": None})
    html = packet_html(plain)
    assert PART2_NOTICE not in html and PART2_NOTICE_SHORT not in html
