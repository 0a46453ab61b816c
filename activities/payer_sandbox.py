"""A sandbox payer that answers like a real one, chosen by the member ID's prefix.

- `INACTIVE…`  coverage inactive (EB01 6)
- `NOAUTH…`    active, no prior authorization required (EB11 N)
- `APPROVE…`   active; authorization requests approved at once
- `DENY…`      active; authorization requests denied at once
- `SILENT…`    active; requests accepted and never answered (test payer deadlines)
- `BADDATA…`   the payer rejects the member ID (AAA 72: invalid member ID)
- anything else: active, authorization required; requests pend until staff record them
The same request ID always gets the same answer, as a real payer's dedupe would give.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from activities.ports import PayerDataError
from schemas.payer import (
    AuthorizationRequest,
    AuthRequirement,
    EligibilityRequest,
    EligibilityResult,
    PayerAnswer,
    PayerStatus,
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxPayer:
    def __init__(self, clock: Callable[[], datetime] = _utc_now, approval_days: int = 30) -> None:
        self._clock = clock
        self._approval_days = approval_days
        self._answers: dict[str, PayerAnswer] = {}
        self.eligibility_calls = 0
        self.authorization_calls = 0

    async def check_eligibility(self, request: EligibilityRequest) -> EligibilityResult:
        self.eligibility_calls += 1
        member = (request.member_id or "").upper()
        if member.startswith("BADDATA"):
            raise PayerDataError("AAA*N**72: invalid member ID")
        now = self._clock()
        if member.startswith("INACTIVE"):
            return EligibilityResult(active=False, checked_at=now)
        requirement = (
            AuthRequirement.NOT_REQUIRED
            if member.startswith("NOAUTH")
            else AuthRequirement.REQUIRED
        )
        return EligibilityResult(active=True, authorization=requirement, copay=25.0, checked_at=now)

    async def request_authorization(self, request: AuthorizationRequest) -> PayerAnswer:
        self.authorization_calls += 1
        if request.request_id in self._answers:
            return self._answers[request.request_id]
        member = (request.member_id or "").upper()
        reference = f"SBX-{len(self._answers) + 1:06d}"
        today: date = self._clock().date()
        if member.startswith("APPROVE"):
            answer = PayerAnswer(
                reference=reference,
                status=PayerStatus.APPROVED,
                units=request.units_requested,
                start_date=today,
                end_date=today + timedelta(days=self._approval_days),
                authorization_number=f"AUTH-{reference}",
            )
        elif member.startswith("DENY"):
            answer = PayerAnswer(
                reference=reference, status=PayerStatus.DENIED, reason="medical necessity not met"
            )
        else:
            answer = PayerAnswer(reference=reference, status=PayerStatus.PENDING)
        self._answers[request.request_id] = answer
        return answer
