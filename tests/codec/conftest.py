"""Fixtures for the codec tests: one key ring, Temporal servers started with our converter."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from codec.converter import build_data_converter
from codec.keys import KeyRing


@pytest.fixture(scope="session")
def codec_keyring() -> KeyRing:
    return KeyRing.generate("test-key")


@pytest.fixture(scope="session")
async def codec_ts_env(codec_keyring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    """Time-skipping test server whose client uses the carepath converter."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=build_data_converter(codec_keyring),
        test_server_existing_path=shutil.which("temporal-test-server"),
    )
    try:
        yield env
    finally:
        await env.shutdown()
