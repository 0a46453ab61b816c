"""An embedded PostgreSQL (the `pgserver` package) for `make run` and tests without a server.

Only the development stack (worker/stack.py) and the test helpers start one; opening a
pool never does (store/pool.py takes a DSN).

pgserver ships its own PostgreSQL binaries, listens on a Unix socket inside the data
folder only (no TCP port), and, when started as root, runs the server as a dedicated
`pgserver` system user (PostgreSQL refuses to run as root). `stop()`/`start()` exist so
fault tests can take the database away and bring it back on the same socket.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pgserver import _commands
from pgserver.postgres_server import get_server

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """One embedded server under `pgdata`; stopped at interpreter exit unless `keep=True`."""

    def __init__(self, pgdata: Path, *, keep: bool = False, delete: bool = False) -> None:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        mode = "delete" if delete else None if keep else "stop"
        self.pgdata = pgdata.resolve()
        self._server = get_server(self.pgdata, cleanup_mode=mode)

    @property
    def dsn(self) -> str:
        """asyncpg/libpq URI on the server's Unix socket, database `postgres`."""
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Fast shutdown: clients are disconnected, the data folder stays."""
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._server.system_user
        )

    def start(self) -> None:
        """Start again after `stop()`, on the same socket folder."""
        self._server.ensure_postgres_running()

    def close(self) -> None:
        self._server.cleanup()


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    """Start (or join) the embedded server under `data_dir / "pg"` and return it."""
    server = EmbeddedPostgres(data_dir / "pg")
    log.info("embedded PostgreSQL ready under %s", server.pgdata)
    return server
