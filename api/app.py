"""The FastAPI application: `/v1` routes, health probes, problem answers, OpenAPI."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Literal

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.channels import build_channels_router
from api.deps import ApiDeps, Services
from api.groups import build_groups_router
from api.metrics import install_metrics
from api.outages import install_outage_handlers
from api.outcomes import build_outcomes_router
from api.params import refuse_untypeable_params
from api.problems import Problem, install_problem_handlers
from api.routes import build_router
from api.workbench.patient_page import PatientPageSettings, mount_patient_page
from api.workbench.settings import WorkbenchSettings, load_workbench_settings
from api.workbench.web import mount_workbench
from store.health import StoreHealth, store_health

DESCRIPTION = """Care-transition engine for behavioral-health programs.

Authenticate with `Authorization: Bearer <API key>`; each key is bound to a role
(clinic-system, care-team, utilization-review, operator) and to the programs it sees.
Errors are RFC 9457 problem details (`application/problem+json`). Every mutating
endpoint accepts an `Idempotency-Key` header: a retry with the same key and body gets the
first answer back; a request that never finished frees its key after a lease (60 s by
default), and a retry then runs it again (the engine dedupes submission IDs).

503 (with `Retry-After`) means Temporal or PostgreSQL is unreachable and nothing was done:
retry the same request, with the same key. A malformed JSON body is 400. Free text
(reasons, names, notes) and every query or path parameter must not contain control
characters other than tab, line feed and carriage return, nor lone surrogates (422 naming
the field). An episode in a program the key may not see is 404, as an unknown one.
"""


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    temporal: bool | None = None
    postgres: bool | None = None
    dispatcher: bool | None = Field(
        default=None,
        description="an outbox dispatcher completed a pass recently (reported, not required)",
    )
    parked_batches: int | None = Field(
        default=None, description="record batches refused by PostgreSQL, waiting for an operator"
    )


def create_app(
    deps: ApiDeps,
    workbench: WorkbenchSettings | None = None,
    patient_page: PatientPageSettings | None = None,
) -> FastAPI:
    services = Services.build(deps)
    app = FastAPI(
        title="carepath",
        version="1",
        description=DESCRIPTION,
        dependencies=[Depends(refuse_untypeable_params)],
    )
    app.state.services = services
    install_problem_handlers(app)
    install_outage_handlers(app)
    app.include_router(build_router(services))
    app.include_router(build_groups_router(services))
    app.include_router(build_channels_router(services))
    app.include_router(build_outcomes_router(services))  # reports, packets, FHIR
    mount_workbench(app, services, workbench or load_workbench_settings())
    mount_patient_page(app, services, patient_page)  # /p/{token}, the patient's questionnaire
    install_metrics(  # GET /metrics, request counts and IDs (api/metrics.py)
        app, deps.pool, expiring_within_days=deps.settings.metrics_expiring_within_days
    )

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Health,
        responses={503: {"model": Health, "description": "Temporal or PostgreSQL is down"}},
        tags=["health"],
        summary="Readiness: Temporal and PostgreSQL both answer",
    )
    async def readyz() -> JSONResponse:
        temporal, store = await asyncio.gather(services.episodes.ping(), _store_health(deps))
        ready = temporal and store is not None
        body = Health(
            status="ok" if ready else "unavailable",
            temporal=temporal,
            postgres=store is not None,
            dispatcher=store.dispatcher_fresh(
                timedelta(seconds=deps.settings.dispatcher_stale_after_seconds)
            )
            if store
            else None,
            parked_batches=store.parked_batches if store else None,
        )
        return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if ready else 503)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(
                Problem.model_json_schema(ref_template="#/components/schemas/{model}").pop(
                    "$defs", {}
                )
            )
            schemas["Problem"] = _problem_schema()
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _problem_schema() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


async def _store_health(deps: ApiDeps) -> StoreHealth | None:
    """The store's health signals, or None when PostgreSQL does not answer."""
    timeout = deps.settings.api_temporal_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            return await store_health(deps.pool)
    except Exception:
        return None
