"""schemathesis against the OpenAPI document: no 5xx, every response as documented.

Cases are generated from `/openapi.json` (positive and negative data), sent over a real
socket to the API on the real worker, with the key of a role that may call each path.
Bounded (a fixed number of examples, derandomized) so it runs in seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from schemas.text import refusal
from tests.api.conftest import bearer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
TOKEN_FOR_PATH = {
    "/v1/episodes/{episode_id}/coverage": "tok-ur",
    "/v1/episodes/{episode_id}/authorizations": "tok-ur",
    "/v1/episodes/{episode_id}/events": "tok-clinic",
}
MAX_EXAMPLES = 200
GROUP = {
    "group_id": "schemathesis-group",
    "program_id": "iop-adult",
    "name": "Skills group",
    "level": "iop",
    "weekdays": [1, 3],
    "start_time": "09:00:00",
    "duration_minutes": 180,
    "capacity": 12,
    "facilitator_ref": "fac-1",
}


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def carries_refused_text(case: Case[Any]) -> bool:
    sent = [case.body, case.query, case.path_parameters]
    return any(refusal(text) is not None for part in sent for text in _texts(part))


def token_for(case: Case[Any]) -> str:
    if case.path == "/v1/episodes" and case.method.upper() == "POST":
        return "tok-clinic"
    return TOKEN_FOR_PATH.get(case.path, "tok-care")


async def test_every_response_conforms_to_the_openapi_document(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as http:
        document = (await http.get("/openapi.json")).json()
        # Lists with a row in them, so their items are checked against the document too.
        group = await http.post("/v1/groups", json=GROUP, headers=bearer("tok-admin"))
        assert group.status_code in {200, 201}, group.text
    schema = schemathesis.openapi.from_dict(document)
    strategy = schema.as_strategy(GenerationMode.POSITIVE) | schema.as_strategy(
        GenerationMode.NEGATIVE
    )

    refused: list[int] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def conforms(case: Case[Any]) -> None:
        response = case.call_and_validate(
            base_url=api_url, headers=bearer(token_for(case)), checks=CHECKS, timeout=30
        )
        if carries_refused_text(case):
            refused.append(response.status_code)

    await asyncio.to_thread(conforms)
    # The text rule is in the document, so generated cases try it (how many depends on the
    # document); whichever did were refused, never a 5xx.
    assert set(refused) <= {400, 401, 403, 404, 409, 422}, refused

    # And always these, through the same checks: a NUL in a query, a body, a nested field.
    explicit = [
        schema["/v1/census"]["GET"].Case(query={"program": "a\x00b"}),
        schema["/v1/episodes/{episode_id}/decisions"]["POST"].Case(
            path_parameters={"episode_id": "ep-1"},
            body={
                "decision_id": "d-1",
                "clinician_id": "clin-7",
                "action": "continue",
                "reason": "plan\x00",
            },
            media_type="application/json",
        ),
        schema["/v1/episodes"]["POST"].Case(
            body={"program_id": "iop-adult", "patient": {"patient_ref": "MRN\x1b1"}},
            media_type="application/json",
        ),
    ]

    def status_of(case: Case[Any]) -> int:
        response = case.call_and_validate(
            base_url=api_url, headers=bearer(token_for(case)), checks=CHECKS, timeout=30
        )
        return response.status_code

    for case in explicit:
        assert carries_refused_text(case)
        assert await asyncio.to_thread(status_of, case) == 422
    # A list with a row in it, checked against its response schema whatever was generated.
    groups = schema["/v1/groups"]["GET"].Case(query={"program": "iop-adult"})
    assert await asyncio.to_thread(status_of, groups) == 200
