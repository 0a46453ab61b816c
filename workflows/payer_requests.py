"""What the workflow sends the payer activities: the request, built from the carried state.

No patient data goes in (DESIGN.md, privacy): the episode ID names whose subscriber the
activity reads from the records (engine V3), with the member ID (filled in there when the
request carries none: an episode started through the API keeps its member IDs in
PostgreSQL, the start's and each coverage change's, `coverage_ref`). A member ID the
workflow itself was given (a start or coverage change sent straight to Temporal, as tests
and benchmarks do, or recorded before) is passed on as given: it is in the history already.
"""

from __future__ import annotations

from schemas.payer import AuthorizationRequest, EligibilityRequest, PayerRequestKind
from workflows.engine import EpisodeEngine
from workflows.state import ENGINE_V3, Command


def request_id(engine: EpisodeEngine, command: Command) -> str:
    """The payer dedupes on it: the workflow ID and the command's sequence number."""
    return f"{engine.workflow_id}:{command.seq}"


def eligibility_request(engine: EpisodeEngine, command: Command) -> EligibilityRequest:
    s = engine.state
    assert s.coverage is not None
    return EligibilityRequest(
        request_id=request_id(engine, command),
        payer_id=s.coverage.payer_id,
        member_id=s.coverage.member_id,
        episode_id=patient_lookup(engine),
        coverage_ref=s.coverage_ref,
    )


def authorization_request(engine: EpisodeEngine, command: Command) -> AuthorizationRequest:
    s = engine.state
    prior = s.authorization.authorization_number if s.authorization else None
    assert command.level is not None and command.payer_kind is not None
    return AuthorizationRequest(
        request_id=request_id(engine, command),
        kind=command.payer_kind,
        payer_id=s.coverage.payer_id if s.coverage else "unknown",
        member_id=s.coverage.member_id if s.coverage else "unknown",
        level=command.level,
        units_requested=s.start.policy.units_requested,
        expedited=command.expedited,
        urgent_concurrent=command.urgent_concurrent,
        prior_authorization_number=prior
        if command.payer_kind is PayerRequestKind.CONCURRENT_REVIEW
        else None,
        disclosure_consented=engine.payer_consent(),
        episode_id=patient_lookup(engine),
        coverage_ref=s.coverage_ref,
    )


def patient_lookup(engine: EpisodeEngine) -> str | None:
    """The episode whose patient the payer activity reads from the store: engine V3 runs
    (the workflow holds no name or date of birth), and any run whose coverage carries no
    member ID (kept in the records by the API); older runs keep their recorded inputs."""
    s = engine.state
    no_member = s.coverage is not None and s.coverage.member_id is None
    return engine.episode_id if s.engine_version >= ENGINE_V3 or no_member else None
