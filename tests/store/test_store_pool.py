"""open_store without DATABASE_URL: starts the embedded server under data_dir, migrated."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from store.pool import open_store
from tests.store.store_builders import batch, snapshot
from worker.settings import Settings


async def test_open_store_starts_embedded_postgres_under_the_data_folder() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="cp-data-"))
    settings = Settings(DATABASE_URL=None, data_dir=data_dir, db_pool_min=1, db_pool_max=2)
    assert settings.database_url is None
    handle = await open_store(settings)
    try:
        assert handle.embedded is not None
        assert handle.embedded.pgdata == (data_dir / "pg").resolve()
        assert await handle.records.apply(batch(1, snapshot("pool-ep")))
        assert await handle.pool.fetchval("SELECT count(*) FROM episodes") == 1
        assert handle.pool.get_max_size() == 2
    finally:
        await handle.close()
        if handle.embedded is not None:
            handle.embedded.close()
        shutil.rmtree(data_dir, ignore_errors=True)
