"""Channel tests run on real PostgreSQL (a migrated schema per test, as the store tests)."""

from tests.store.conftest import bare_pool, pg_dsn, pool, schema  # noqa: F401
