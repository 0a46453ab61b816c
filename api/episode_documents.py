"""An episode's documents for other systems: its FHIR R4 Bundle, and the concurrent-review
packets utilization-review staff download (every download audited before it is sent).

Both read PostgreSQL only. An episode in a program the key may not see is 404, as an
unknown one; nothing of a packet or a Bundle is logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict

from api.auth import BEARER, Principal, authenticate
from api.deps import Services
from api.mutations import records_call
from api.outcomes import NOT_ACCEPTABLE, negotiate
from api.problems import ApiProblem, episode_not_found
from api.reports.fhir_bundle import episode_bundle
from api.reports.packet import packet_bundle, packet_pdf
from api.reports.pdf import PdfUnavailable
from api.routes import problems
from api.settings import ApiKey, Role
from store import review_packets
from store.fhir_records import fhir_records
from store.review_packets import PacketRow

FHIR_JSON: Final = "application/fhir+json"
PDF: Final = "application/pdf"
FHIR_ROLES: Final = frozenset({Role.CLINIC_SYSTEM, Role.CARE_TEAM, Role.OPERATOR})
# Minimum necessary: the packets are for utilization review only.
PACKET_ROLES: Final = frozenset({Role.UTILIZATION_REVIEW})

EpisodeId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
PacketId = Annotated[str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]


def _keys(request: Request) -> Mapping[str, ApiKey]:
    services: Services = request.app.state.services
    return services.deps.settings.api_keys


def _reader(roles: frozenset[Role], what: str):  # type: ignore[no-untyped-def]
    async def dependency(
        request: Request,
        _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> Principal:
        principal = authenticate(request.headers.get("authorization"), _keys(request))
        if principal.role not in roles:
            raise ApiProblem(403, "role-forbidden", f"role '{principal.role}' may not {what}")
        return principal

    return dependency


FhirReader = Annotated[Principal, Depends(_reader(FHIR_ROLES, "read FHIR"))]
PacketReader = Annotated[Principal, Depends(_reader(PACKET_ROLES, "read review packets"))]


class PacketSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    packet_id: str
    status: str
    authorization_number: str | None
    requested_at: datetime
    part2_program: bool


def _summary(row: PacketRow) -> PacketSummary:
    return PacketSummary(
        packet_id=row.packet_id,
        status=row.status,
        authorization_number=str(row.authorization_number) if row.authorization_number else None,
        requested_at=row.requested_at,
        part2_program=row.part2_program,
    )


async def deliver_packet(
    services: Services, row: PacketRow, *, fmt: str, actor: str, role: str, channel: str
) -> Response:
    """The packet as PDF or FHIR, after its download row is written (no audit, no packet)."""
    if row.packet is None:
        raise ApiProblem(
            409,
            "packet-withheld",
            "no disclosure consent was on file when the payer was asked: nothing was assembled",
        )
    # The patient's identity from the patients table (never Temporal), if not stored.
    packet = await records_call(review_packets.with_identity(services.deps.pool, row.packet))
    try:
        pdf = packet_pdf(packet)
    except PdfUnavailable as missing:
        raise ApiProblem(503, "pdf-unavailable", str(missing)) from None
    now = services.deps.clock()
    await records_call(
        review_packets.record_download(
            services.deps.pool,
            row.packet_id,
            actor=actor,
            role=role,
            channel=channel,
            fmt=fmt,
            at=now,
        )
    )
    headers = {"Cache-Control": "no-store"}
    if fmt == "pdf":
        headers["Content-Disposition"] = f'attachment; filename="review-packet-{row.packet_id}.pdf"'
        return Response(pdf, media_type=PDF, headers=headers)
    bundle = packet_bundle(packet, pdf, at=now)
    return Response(
        bundle.model_dump_json(exclude_none=True), media_type=FHIR_JSON, headers=headers
    )


def build_documents_router(services: Services, *, prefix: str = "/v1") -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["documents"])
    pool = services.deps.pool

    async def visible(principal: Principal, episode_id: str) -> None:
        program = await records_call(services.records.program_of(episode_id))
        if program is None:
            raise episode_not_found(episode_id)
        principal.require_episode(episode_id, program)

    @router.get(
        "/episodes/{episode_id}/fhir",
        responses={
            200: {
                "content": {FHIR_JSON: {"schema": {"type": "object"}}},
                "description": "a Bundle",
            },
            **problems(401, 403, 404, 422, 503),
        },
        summary="The episode as a FHIR R4 Bundle (EpisodeOfCare, scores, encounters, care plan)",
    )
    async def episode_fhir(episode_id: EpisodeId, principal: FhirReader) -> Response:
        await visible(principal, episode_id)
        records = await records_call(fhir_records(pool, episode_id))
        if records is None:
            raise episode_not_found(episode_id)
        identity = await records_call(
            review_packets.patient_identity(pool, episode_id, with_mrn=True)
        )
        bundle = episode_bundle(records, at=services.deps.clock(), identity=identity)
        return Response(
            bundle.model_dump_json(exclude_none=True),
            media_type=FHIR_JSON,
            headers={"Cache-Control": "no-store"},
        )

    @router.get(
        "/episodes/{episode_id}/review-packets",
        response_model=list[PacketSummary],
        responses=problems(401, 403, 404, 422, 503),
        summary="The episode's concurrent-review packets (newest first)",
    )
    async def list_packets(episode_id: EpisodeId, principal: PacketReader) -> JSONResponse:
        await visible(principal, episode_id)
        rows = await records_call(review_packets.packets_of(pool, episode_id))
        return JSONResponse([_summary(r).model_dump(mode="json") for r in rows])

    @router.get(
        "/review-packets/{packet_id}",
        responses={
            200: {
                "content": {
                    PDF: {"schema": {"type": "string", "format": "binary"}},
                    FHIR_JSON: {"schema": {"type": "object"}},
                },
                "description": "the packet as PDF or as a FHIR R4 Bundle, by Accept",
            },
            **problems(401, 403, 404, 409, 422, 503),
            **NOT_ACCEPTABLE,
        },
        summary="Download a concurrent-review packet (audited)",
    )
    async def get_packet(
        request: Request, packet_id: PacketId, principal: PacketReader
    ) -> Response:
        media = negotiate(request.headers.get("accept"), (PDF, FHIR_JSON, "application/json"))
        if media is None:
            raise ApiProblem(406, "not-acceptable", f"a packet is offered as {PDF} or {FHIR_JSON}")
        row = await records_call(review_packets.packet(pool, packet_id))
        if row is None or not principal.key.sees(row.program_id):
            raise ApiProblem(404, "packet-not-found", f"no packet '{packet_id}'")
        return await deliver_packet(
            services,
            row,
            fmt="pdf" if media == PDF else "fhir",
            actor=principal.actor,
            role=principal.role.value,
            channel="api",
        )

    return router
