"""Real PostgreSQL for the report tests: the store tests' fixtures (a migrated schema each)."""

from tests.store.conftest import bare_pool, pg_dsn, pool, schema

__all__ = ["bare_pool", "pg_dsn", "pool", "schema"]
