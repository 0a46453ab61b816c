"""Utilization-review staff download an episode's latest concurrent-review packet from
the workbench (linked from the UR queue); the download is audited like the API's."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.episode_documents import deliver_packet
from api.mutations import records_call
from api.problems import ApiProblem
from api.workbench.accounts import PersonRole
from api.workbench.guard import PREFIX, signed_in_as, workbench_of
from api.workbench.sessions import Session
from api.workbench.web import problem_page
from store import review_packets

PACKET_ROLES: Final = frozenset({PersonRole.UTILIZATION_REVIEW})
Reviewer = Annotated[Session, Depends(signed_in_as(PACKET_ROLES))]


def build_packet_page_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)

    @router.get("/utilization-review/packets/{episode_id}.pdf")
    async def latest_packet(request: Request, episode_id: str, session: Reviewer) -> Response:
        workbench = workbench_of(request)
        pool = workbench.services.deps.pool
        try:
            rows = await records_call(review_packets.packets_of(pool, episode_id))
            if not rows or not session.account.sees(rows[0].program_id):
                raise ApiProblem(404, "packet-not-found", "this episode has no review packet")
            row = await records_call(review_packets.packet(pool, rows[0].packet_id))
            assert row is not None
            return await deliver_packet(
                workbench.services,
                row,
                fmt="pdf",
                actor=session.account.actor,
                role=session.account.role.value,
                channel="workbench",
            )
        except ApiProblem as problem:
            return problem_page(request, session, problem)

    return router
