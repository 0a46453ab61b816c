"""Channel tests run on real PostgreSQL (a migrated schema per test, as the store tests),
and talk to a local HTTP server that behaves like the SMS gateway."""

from collections.abc import AsyncIterator

import pytest

from tests.channels.sms_gateway import Gateway, serving
from tests.store.conftest import bare_pool, pg_dsn, pool, schema  # noqa: F401


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, str]]:
    """The fake gateway and its base URL."""
    fake = Gateway()
    async with serving(fake) as url:
        yield fake, url
