"""schemathesis against the OpenAPI document: no 5xx, every response as documented.

Cases are generated from `/openapi.json` (positive and negative data), sent over a real
socket to the API on the real worker, with the key of a role that may call each path.
Bounded (a fixed number of examples, derandomized) so it runs in seconds.
"""

from __future__ import annotations

import asyncio

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


def token_for(case: Case) -> str:
    if case.path == "/v1/episodes" and case.method.upper() == "POST":
        return "tok-clinic"
    return TOKEN_FOR_PATH.get(case.path, "tok-care")


async def test_every_response_conforms_to_the_openapi_document(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as http:
        document = (await http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    strategy = schema.as_strategy(GenerationMode.POSITIVE) | schema.as_strategy(
        GenerationMode.NEGATIVE
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def conforms(case: Case) -> None:
        case.call_and_validate(
            base_url=api_url, headers=bearer(token_for(case)), checks=CHECKS, timeout=30
        )

    await asyncio.to_thread(conforms)
