"""The concurrent-review packet as a printable page, its PDF, and a FHIR R4 Bundle.

Rendered from the stored packet (PostgreSQL), never from Temporal. The Bundle holds the
structured parts (patient, episode, coverage, PHQ-9 / GAD-7, C-SSRS) and the PDF itself
as a DocumentReference; under 42 CFR Part 2 every resource carries the Part 2 security
label and the PDF opens with the 2.32 notice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.observation import Observation

from api.reports.charts import data_uri
from api.reports.fhir_bundle import (
    CLINICIAN_SYSTEM,
    OBS_CATEGORY,
    BundleBuilder,
    add_coverage,
    add_patient,
    add_scores,
    pdf_document,
    urn,
)
from api.reports.pdf import html_to_pdf
from api.reports.program_report import TEMPLATES
from api.workbench.charts import ScorePoint, scores_svg
from rules.policy import ProgramPolicy
from schemas.review_packet import PART2_NOTICE_SHORT, ReviewPacket

TITLE = "Concurrent review packet"


def packet_chart(packet: ReviewPacket) -> bytes:
    points = [ScorePoint(at=s.at, phq9=s.phq9_total, gad7=s.gad7_total) for s in packet.scores]
    baseline = next((s.phq9_total for s in packet.scores if s.phq9_total is not None), None)
    return scores_svg(points, baseline_phq9=baseline, policy=ProgramPolicy())


def packet_html(packet: ReviewPacket) -> str:
    return TEMPLATES.get_template("review_packet.html").render(
        packet=packet,
        chart=data_uri(packet_chart(packet)) if packet.scores else None,
        title=TITLE,
        part2_short=PART2_NOTICE_SHORT,
    )


def packet_pdf(packet: ReviewPacket) -> bytes:
    return html_to_pdf(packet_html(packet))


def packet_bundle(packet: ReviewPacket, pdf: bytes, *, at: datetime) -> Bundle:
    b = BundleBuilder(packet.episode_id, part2=packet.part2_program)
    patient = add_patient(b, packet.patient)
    period: dict[str, str] = {"start": packet.episode_started_at.isoformat()}
    episode = b.add(
        EpisodeOfCare,
        urn(packet.episode_id, "episode"),
        {
            "identifier": [{"system": "urn:carepath:episode", "value": packet.episode_id}],
            "status": "active",
            "patient": {"reference": patient},
            "period": period,
        },
    )
    auth = packet.authorization
    if auth is not None:
        member = packet.patient.member_id if packet.patient else None
        add_coverage(b, auth.payer_id, patient, member)
    rows: list[dict[str, object]] = [
        {"review_id": i, "kind": "packet", "clinician_id": None, **s.model_dump()}
        for i, s in enumerate(packet.scores)
    ]
    add_scores(b, rows, patient, episode)
    for i, c in enumerate(packet.cssrs):
        body: dict[str, Any] = {
            "status": "final",
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "survey"}]}],
            "code": {"text": "C-SSRS screener: risk"},
            "subject": {"reference": patient},
            "effectiveDateTime": c.at.isoformat(),
            "valueString": c.risk or ("high" if c.high_risk else "not high"),
            "focus": [{"reference": episode}],
        }
        b.add(Observation, urn(packet.episode_id, "cssrs", i, c.at.isoformat()), body)
    decision = packet.latest_decision
    if decision is not None:
        b.add(
            Observation,
            urn(packet.episode_id, "decision", decision.at.isoformat()),
            {
                "status": "final",
                "code": {"text": "clinician's level-of-care decision"},
                "subject": {"reference": patient},
                "effectiveDateTime": decision.at.isoformat(),
                "performer": [
                    {"identifier": {"system": CLINICIAN_SYSTEM, "value": decision.clinician_id}}
                ],
                "valueString": decision.decision or "none recorded",
                "note": [{"text": decision.rationale}] if decision.rationale else None,
                "focus": [{"reference": episode}],
            },
        )
    pdf_document(b, pdf, title=TITLE, patient=patient, at=packet.requested_at)
    return b.bundle(at=at)
