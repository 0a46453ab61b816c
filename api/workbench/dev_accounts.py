"""`make run`'s development accounts: one person per role, every program, a random
password kept under data/keys/ (never committed) and printed at start."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg

from api.settings import ALL_PROGRAMS
from api.workbench.accounts import PersonRole, PostgresAccounts

FILE_NAME = "workbench-accounts.json"


@dataclass(frozen=True)
class DevCredential:
    username: str
    password: str
    role: PersonRole


def dev_credentials(keys_dir: Path) -> list[DevCredential]:
    """The credentials file, written once with a fresh password per role."""
    path = keys_dir / FILE_NAME
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        rows = [
            {"username": f"dev-{role.value}", "password": secrets.token_urlsafe(12), "role": role}
            for role in PersonRole
        ]
        path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
        path.chmod(0o600)
    loaded = json.loads(path.read_text(encoding="utf-8"))
    return [
        DevCredential(row["username"], row["password"], PersonRole(row["role"])) for row in loaded
    ]


async def ensure_dev_accounts(pool: asyncpg.Pool, keys_dir: Path) -> list[DevCredential]:
    """Create any development account that does not exist yet; returns all of them."""
    accounts = PostgresAccounts(pool, lockout_after_failures=5, lockout=timedelta(minutes=15))
    credentials = dev_credentials(keys_dir)
    for credential in credentials:
        if not await accounts.exists(credential.username):
            await accounts.create(
                username=credential.username,
                password=credential.password,
                role=credential.role,
                programs=frozenset({ALL_PROGRAMS}),
                actor=credential.username,
                display_name=f"Dev {credential.role.value.replace('-', ' ')}",
            )
    return credentials
