"""The text rule (`schemas.text`): no control characters or lone surrogates anywhere in.

Walked, not listed: every string field of every request model the routes accept, every
string in the OpenAPI document's request bodies and parameters, so a field added later
cannot miss the rule. Then over HTTP: the 422 names the field and nothing is started.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError

from api.routes import build_router
from schemas.text import TEXT_PATTERN, TEXT_RULE, refusal
from tests.api import bodies
from tests.api.conftest import bearer

CLINIC = bearer("tok-clinic")
CARE = bearer("tok-care")
OPS = bearer("tok-ops")
REFUSED = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"]
ALLOWED = ["\t", "\n", "\r\n", "é", "✓", "😀"]


def request_models() -> list[type[BaseModel]]:
    """The body type of every route, read from the routes themselves."""
    router = build_router(cast(Any, None))  # services are used only inside the handlers
    found = []
    for route in router.routes:
        assert isinstance(route, APIRoute)
        for param in route.dependant.body_params:
            annotation = param.field_info.annotation
            assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
            found.append(annotation)
    return found


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def bad_value(annotation: Any, bad: str) -> Any | None:
    """A value of `annotation`'s shape whose strings all carry `bad`; None if it holds no str."""
    origin = get_origin(annotation)
    if annotation is str:
        return f"ok{bad}ok"
    if origin is Annotated:
        return bad_value(get_args(annotation)[0], bad)
    if origin in (Union, types.UnionType):
        for member in get_args(annotation):
            value = bad_value(member, bad)
            if value is not None:
                return value
        return None
    if origin in (list, tuple, set, frozenset):
        inner = bad_value(get_args(annotation)[0], bad)
        return None if inner is None else [inner]
    if origin is dict:
        key, value = (bad_value(arg, bad) for arg in get_args(annotation))
        if key is None and value is None:
            return None
        return {key if key is not None else "k": value}
    if origin is Literal or _is_model(annotation):
        return None  # literals are fixed; nested models are walked on their own
    if isinstance(annotation, type) and issubclass(annotation, (Enum, int, float, bool)):
        return None
    return None


def nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    if _is_model(annotation):
        yield annotation
    for arg in get_args(annotation):
        yield from nested_models(arg)


def string_fields() -> list[tuple[str, Any]]:
    """(Model.field, the field's full annotation with its constraints) for every str field."""
    seen: set[type[BaseModel]] = set()
    found: list[tuple[str, Any]] = []
    pending = request_models()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            pending.extend(nested_models(field.annotation))
            if bad_value(field.annotation, "\x00") is not None:
                annotated = cast(Any, Annotated)[(field.annotation, *field.metadata)]
                found.append((f"{model.__name__}.{name}", annotated))
    return found


STRING_FIELDS = string_fields()
FIELD_NAMES = [name for name, _ in STRING_FIELDS]
ANNOTATIONS = [annotation for _, annotation in STRING_FIELDS]


def test_the_walk_finds_the_free_text_fields() -> None:
    names = {name for name, _ in STRING_FIELDS}
    # A sample the walk must reach (nested models, optional fields), not the whole list.
    assert {
        "EpisodeStart.program_id",
        "PatientRef.name",
        "Coverage.member_id",
        "ContactPreferences.email_address",
        "LevelDetermination.rationale",
        "ClinicianDecision.reason",
        "ClinicianDecision.override_reason",
        "EpisodeEvent.reason",
        "AuthorizationDecision.authorization_number",
    } <= names


@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=FIELD_NAMES)
@pytest.mark.parametrize("bad", REFUSED, ids=[f"U+{ord(c):04X}" for c in REFUSED])
def test_every_string_field_refuses_control_characters(annotation: Any, bad: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(annotation).validate_python(bad_value(annotation, bad))


@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=FIELD_NAMES)
def test_every_string_field_refuses_a_lone_surrogate(annotation: Any) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(annotation).validate_python(bad_value(annotation, "\ud800"))


def test_tab_newline_and_carriage_return_are_typeable() -> None:
    for ok in ALLOWED:
        assert refusal(f"plan{ok}text") is None
        assert re.fullmatch(TEXT_PATTERN, f"plan{ok}text")
    assert refusal("a\x00b") is not None and "U+0000" in str(refusal("a\x00b"))


def _strings(node: Any, document: dict[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    """Every string schema under `node` (refs resolved), with a readable path."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            yield from _strings(document["components"]["schemas"][name], document, name)
            return
        if node.get("type") == "string":
            yield path, node
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in node.get(key, []):
                yield from _strings(branch, document, path)
        for prop, sub in node.get("properties", {}).items():
            yield from _strings(sub, document, f"{path}.{prop}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                yield from _strings(node[key], document, f"{path}[]")


def _refuses_control_characters(schema: dict[str, Any]) -> bool:
    if "enum" in schema or "const" in schema or schema.get("format") in {"date", "date-time"}:
        return True
    pattern = schema.get("pattern")
    return pattern is not None and not any(re.search(pattern, f"a{c}b") for c in REFUSED)


def test_the_openapi_document_states_the_rule_for_every_string_sent_in(api_app: FastAPI) -> None:
    document = api_app.openapi()
    offenders = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            roots = [
                (f"{method} {path} {p['in']}.{p['name']}", p["schema"])
                for p in operation.get("parameters", [])
                if p["in"] in {"query", "path"}
            ]
            body = operation.get("requestBody", {}).get("content", {})
            roots += [(f"{method} {path} body", c["schema"]) for c in body.values()]
            for where, root in roots:
                offenders += [
                    f"{where}: {at}"
                    for at, schema in _strings(root, document, "")
                    if not _refuses_control_characters(schema)
                ]
    assert offenders == []


async def test_a_nul_in_a_decision_reason_is_422_naming_the_field(api: httpx.AsyncClient) -> None:
    start = bodies.episode()
    assert (await api.post("/v1/episodes", json=start, headers=CLINIC)).status_code == 201
    decision = {**bodies.decision(), "reason": "plan\x00: transport"}
    answer = await api.post(
        f"/v1/episodes/{start['episode_id']}/decisions", json=decision, headers=CARE
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [{"field": "body.reason", "message": TEXT_RULE}]
    assert "transport" not in answer.text  # the input is never echoed


async def test_a_control_character_in_the_start_is_422_and_starts_nothing(
    api: httpx.AsyncClient,
) -> None:
    start = bodies.episode()
    start["patient"] = {"patient_ref": "MRN-1", "name": "Synthetic\x1bPatient"}
    answer = await api.post("/v1/episodes", json=start, headers=CLINIC)
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["body.patient.name"]
    gone = await api.get(f"/v1/episodes/{start['episode_id']}", headers=OPS)
    assert gone.status_code == 404


async def test_a_lone_surrogate_in_a_body_is_422(api: httpx.AsyncClient) -> None:
    raw = '{"event_id": "e-1", "reported_by": "ehr-main", "kind": "withdrawn", "reason": "\\ud800"}'
    answer = await api.post(
        "/v1/episodes/ep-any/events",
        content=raw.encode(),
        headers={**CLINIC, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [{"field": "body.reason", "message": TEXT_RULE}]


@pytest.mark.parametrize(
    "url",
    [
        "/v1/census?program=a%00b",
        "/v1/episodes?program=a%1Fb",
        "/v1/episodes?not_a_parameter=x%00y",
        "/v1/episodes/ep%7F1",
        "/v1/episodes/ep%001/timeline",
    ],
)
async def test_query_and_path_parameters_follow_the_rule(api: httpx.AsyncClient, url: str) -> None:
    answer = await api.get(url, headers=OPS)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    field = answer.json()["errors"][0]["field"]
    assert field.split(".")[0] in {"query", "path"}
