"""Type aliases for what store functions accept: a pool, a connection, or a pooled one."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy
Db: TypeAlias = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy
