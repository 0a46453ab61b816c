"""Concurrent-review packets, assembled from the care records by the records writer.

`assemble_for_batch` runs inside `PostgresRecordStore`'s transaction for a batch that
records a concurrent-review request (the engine asked the payer to extend), after the
batch's own rows, so the packet sees the review that led to the request. Nothing of the
packet goes through Temporal: the workflow's commands are unchanged.

A packet is assembled only with the patient's disclosure consent on file (the start's
consent in `episode_disclosure_terms`, or a later `disclosure_consent_recorded`
transition); without it the packet row says `withheld_no_consent` and holds nothing.
Downloads are audited in `review_packet_downloads` before anything is sent.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime

from rules.transitions import Event
from schemas.episode import EpisodeStart
from schemas.records import AuthorizationStatus, EffectBatch
from schemas.review_packet import (
    PART2_NOTICE,
    AttendanceWeek,
    ClinicianDecision,
    CssrsLine,
    EngineRecommendation,
    PacketAuthorization,
    PatientIdentity,
    ReviewPacket,
    ScoreLine,
)
from store.dbtypes import Conn, Db

log = logging.getLogger(__name__)

WITHHELD = "withheld_no_consent"
ASSEMBLED = "assembled"


async def keep_disclosure_terms(db: Db, start: EpisodeStart, at: datetime) -> None:
    """The start's Part 2 status and disclosure consent, once per episode (a retried start
    keeps the first; the workflow refuses a different body anyway)."""
    await db.execute(
        """
        INSERT INTO episode_disclosure_terms (episode_id, program_id, part2_program,
            payer_disclosure, recorded_at)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (episode_id) DO NOTHING
        """,
        start.episode_id,
        start.program_id,
        start.policy.part2_program,
        start.consents.payer_disclosure,
        at,
    )


async def patient_identity(
    db: Db, episode_id: str, *, with_mrn: bool = False
) -> PatientIdentity | None:
    """The patient's name, birth date and member ID from the patients table (migration
    0500), the minimum a payer's reviewer needs; the MRN only `with_mrn` (the clinic's own
    FHIR Bundle). None when the episode has no patients row (started before the table)."""
    row = await db.fetchrow(
        "SELECT mrn, display_name, birth_date, member_id FROM patients WHERE episode_id = $1",
        episode_id,
    )
    if row is None:
        return None
    return PatientIdentity(
        patient_ref=row["mrn"] if with_mrn else None,
        name=row["display_name"],
        birth_date=row["birth_date"],
        member_id=row["member_id"],
    )


async def with_identity(db: Db, packet: ReviewPacket) -> ReviewPacket:
    """The packet as rendered: a packet stored without the patient's identity (assembled
    before the patients table) gets it from the patients table now."""
    if packet.patient is not None:
        return packet
    identity = await patient_identity(db, packet.episode_id)
    return packet if identity is None else packet.model_copy(update={"patient": identity})


def requests_concurrent_review(batch: EffectBatch) -> bool:
    return any(
        a.status == AuthorizationStatus.CONCURRENT_REVIEW_REQUESTED for a in batch.authorizations
    )


async def assemble_for_batch(conn: Conn, batch: EffectBatch) -> str | None:
    """Assemble (or withhold) the packet of each concurrent-review request in the batch.

    Runs in a savepoint: a packet that cannot be assembled is logged (IDs only) and the
    batch's records still commit. Returns the packet ID, if any.
    """
    requests = [
        a
        for a in batch.authorizations
        if a.status == AuthorizationStatus.CONCURRENT_REVIEW_REQUESTED
    ]
    if not requests:
        return None
    request = requests[-1]
    try:
        async with conn.transaction():
            return await _assemble(conn, batch, request.authorization_number, request.at)
    except Exception as error:
        log.error(
            "review packet not assembled: workflow_id=%s seq=%d error=%s",
            batch.workflow_id,
            batch.seq,
            type(error).__name__,
        )
        return None


async def _assemble(
    conn: Conn, batch: EffectBatch, number: str | None, requested_at: datetime
) -> str:
    episode_id = batch.episode.episode_id
    packet_id = uuid.uuid4().hex
    terms = await conn.fetchrow(
        "SELECT part2_program, payer_disclosure FROM episode_disclosure_terms"
        " WHERE episode_id = $1",
        episode_id,
    )
    consent_later = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM transitions WHERE episode_id = $1 AND event = $2)",
        episode_id,
        Event.DISCLOSURE_CONSENT_RECORDED.value,
    )
    part2 = bool(terms["part2_program"]) if terms else False
    consented = bool(terms and terms["payer_disclosure"]) or bool(consent_later)
    auth = await conn.fetchrow(
        """
        SELECT id, authorization_number, payer_id, level, status, unit_type, units_approved,
            units_used, start_date, end_date
        FROM authorizations
        WHERE episode_id = $1 AND authorization_number IS NOT DISTINCT FROM $2
        ORDER BY recorded_at DESC, id DESC LIMIT 1
        """,
        episode_id,
        number,
    )
    content: str | None = None
    if consented:
        packet = await _packet(conn, batch, packet_id, requested_at, part2, auth)
        content = packet.model_dump_json()
    await conn.execute(
        """
        INSERT INTO review_packets (packet_id, episode_id, program_id, workflow_id, seq,
            authorization_id, authorization_number, requested_at, status, part2_program,
            content)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)
        ON CONFLICT (workflow_id, seq) DO NOTHING
        """,
        packet_id,
        episode_id,
        batch.episode.program_id,
        batch.workflow_id,
        batch.seq,
        auth["id"] if auth else None,
        number,
        requested_at,
        ASSEMBLED if consented else WITHHELD,
        part2,
        content,
    )
    return packet_id


async def _packet(
    conn: Conn,
    batch: EffectBatch,
    packet_id: str,
    requested_at: datetime,
    part2: bool,
    auth: object,
) -> ReviewPacket:
    episode_id = batch.episode.episode_id
    ep = batch.episode
    level = ep.delivered_level.value if ep.delivered_level else None
    level_since = await conn.fetchval(
        """
        SELECT min(at) FROM transitions
        WHERE episode_id = $1 AND level_delivered = $2
          AND at > coalesce((SELECT max(at) FROM transitions WHERE episode_id = $1
                             AND level_delivered IS DISTINCT FROM $2), '-infinity')
        """,
        episode_id,
        level,
    )
    weeks = await conn.fetch(
        """
        SELECT date_trunc('week', s.session_date)::date AS week_of,
            count(*) FILTER (WHERE a.status IN ('attended', 'partial'))::int
                AS sessions_attended,
            count(*) FILTER (WHERE a.status = 'no_show')::int AS sessions_missed,
            round(coalesce(sum(a.minutes) FILTER (WHERE a.status IN ('attended', 'partial')),
                  0) / 60.0, 2)::float8 AS hours_attended
        FROM attendance a JOIN group_sessions s ON s.session_id = a.session_id
        WHERE a.episode_id = $1 AND s.cancelled_at IS NULL
        GROUP BY 1 ORDER BY 1
        """,
        episode_id,
    )
    if not weeks:  # no IOP-week records: the weekly reviews' own attendance
        weeks = await conn.fetch(
            """
            SELECT date_trunc('week', at AT TIME ZONE 'UTC')::date AS week_of,
                coalesce(sum(units_attended), 0)::int AS sessions_attended,
                0 AS sessions_missed,
                round(coalesce(sum(hours_attended), 0)::numeric, 2)::float8 AS hours_attended
            FROM reviews
            WHERE episode_id = $1 AND hours_attended IS NOT NULL
            GROUP BY 1 ORDER BY 1
            """,
            episode_id,
        )
    scores = await conn.fetch(
        """
        SELECT at, phq9_total, phq9_item9, gad7_total FROM reviews
        WHERE episode_id = $1 AND (phq9_total IS NOT NULL OR gad7_total IS NOT NULL)
        ORDER BY at, seq, ordinal
        """,
        episode_id,
    )
    cssrs = await conn.fetch(
        """
        SELECT at, cssrs_risk AS risk, cssrs_high_risk AS high_risk,
            cssrs_behaviour_past_3_months AS behaviour_past_3_months, cssrs_answers AS answers
        FROM reviews
        WHERE episode_id = $1 AND (cssrs_risk IS NOT NULL OR cssrs_high_risk IS NOT NULL)
        ORDER BY at, seq, ordinal
        """,
        episode_id,
    )
    decision = await conn.fetchrow(
        """
        SELECT at, clinician_id, decision, coalesce(override_reason, reasons[1]) AS rationale
        FROM reviews WHERE episode_id = $1 AND kind = 'decision'
        ORDER BY at DESC, seq DESC, ordinal DESC LIMIT 1
        """,
        episode_id,
    )
    recommendation = await conn.fetchrow(
        """
        SELECT at, recommended_action, reasons FROM reviews
        WHERE episode_id = $1 AND kind <> 'decision' AND recommended_action IS NOT NULL
        ORDER BY at DESC, seq DESC, ordinal DESC LIMIT 1
        """,
        episode_id,
    )
    authorization = None
    if auth is not None:
        row = dict(auth)  # type: ignore[call-overload]
        row.pop("id")
        approved, used = row["units_approved"], row["units_used"]
        left = approved - (used or 0) if approved is not None else None
        authorization = PacketAuthorization(
            units_left=max(left, 0) if left is not None else None, **row
        )
    return ReviewPacket(
        packet_id=packet_id,
        episode_id=episode_id,
        program_id=ep.program_id,
        requested_at=requested_at,
        part2_program=part2,
        part2_notice=PART2_NOTICE if part2 else None,
        patient=await patient_identity(conn, episode_id),
        delivered_level=level,
        authorized_level=ep.authorized_level.value if ep.authorized_level else None,
        level_since=level_since,
        episode_started_at=ep.started_at,
        authorization=authorization,
        attendance_by_week=[AttendanceWeek.model_validate(dict(w)) for w in weeks],
        scores=[ScoreLine.model_validate(dict(s)) for s in scores],
        cssrs=[CssrsLine.model_validate(dict(c)) for c in cssrs],
        latest_decision=ClinicianDecision.model_validate(dict(decision)) if decision else None,
        recommendation=EngineRecommendation.model_validate(
            {**dict(recommendation), "reasons": list(recommendation["reasons"])}
        )
        if recommendation
        else None,
    )


class PacketRow:
    def __init__(self, row: dict[str, object]) -> None:
        self.packet_id = str(row["packet_id"])
        self.episode_id = str(row["episode_id"])
        self.program_id = str(row["program_id"])
        self.status = str(row["status"])
        self.authorization_number = row["authorization_number"]
        self.requested_at = row["requested_at"]
        self.part2_program = bool(row["part2_program"])
        raw = row.get("content")
        self.packet = ReviewPacket.model_validate(json.loads(str(raw))) if raw else None


_ROW_COLUMNS = """packet_id, episode_id, program_id, status, authorization_number,
    requested_at, part2_program"""


async def packets_of(db: Db, episode_id: str) -> list[PacketRow]:
    rows = await db.fetch(
        f"SELECT {_ROW_COLUMNS} FROM review_packets WHERE episode_id = $1"
        " ORDER BY requested_at DESC, created_at DESC",
        episode_id,
    )
    return [PacketRow(dict(r)) for r in rows]


async def packet(db: Db, packet_id: str) -> PacketRow | None:
    row = await db.fetchrow(
        f"SELECT {_ROW_COLUMNS}, content::text AS content FROM review_packets WHERE packet_id = $1",
        packet_id,
    )
    return PacketRow(dict(row)) if row else None


async def record_download(
    db: Db, packet_id: str, *, actor: str, role: str, channel: str, fmt: str, at: datetime
) -> None:
    await db.execute(
        """
        INSERT INTO review_packet_downloads (packet_id, actor, role, channel, format, at)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        packet_id,
        actor,
        role,
        channel,
        fmt,
        at,
    )
