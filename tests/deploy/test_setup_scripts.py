"""The scripts compose runs, run here for real: secret files, the `_FILE` wrapper, the
PostgreSQL init script on a throwaway server, the namespace setup on the dev server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from unittest import mock

import asyncpg
import pytest
import yaml
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from codec.settings import CodecSettings
from worker.embedded_postgres import EmbeddedPostgres
from workflows.search_attributes import ALL_KEYS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def make_secrets(folder: Path) -> str:
    done = subprocess.run(
        ["sh", str(DEPLOY / "make-secrets.sh"), str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_make_secrets_writes_every_compose_secret_once(workdir: Path) -> None:
    folder = workdir / "secrets"
    make_secrets(folder)
    wanted = {Path(spec["file"]).name for spec in COMPOSE["secrets"].values()}
    assert {p.name for p in folder.iterdir()} == wanted
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o444}
    before = {p.name: p.read_text() for p in folder.iterdir()}
    assert "wrote" not in make_secrets(folder)  # a re-run keeps every secret
    assert before == {p.name: p.read_text() for p in folder.iterdir()}
    blanks = {"payer_api_key", "webhook_secret", "smtp_url", "sms_token"}  # filled in by hand
    assert {name for name, text in before.items() if not text.strip()} == blanks
    random = [text for name, text in before.items() if name not in blanks]
    assert len(set(random)) == len(random)


def test_secret_files_load_into_the_settings(workdir: Path) -> None:
    folder = workdir / "secrets"
    make_secrets(folder)
    env = {
        "DATABASE_URL": "postgresql://carepath@postgresql:5432/carepath",
        "CAREPATH_DATABASE_PASSWORD_FILE": str(folder / "records_db_password"),
        "CAREPATH_API_KEYS_FILE": str(folder / "api_keys.json"),
        "CAREPATH_CODEC_KEY_FILE": str(folder / "codec_keys"),
        "CAREPATH_OPERATOR_TOKEN_FILE": str(folder / "operator_tokens"),
        "CAREPATH_CODEC_SESSION_SECRET_FILE": str(folder / "codec_session_secret"),
    }
    with mock.patch.dict(os.environ, env, clear=True):
        api = ApiSettings()
        codec = CodecSettings()
    password = (folder / "records_db_password").read_text().strip()
    assert api.database_url == f"postgresql://carepath:{password}@postgresql:5432/carepath"
    assert [key.role.value for key in api.api_keys.values()] == ["operator"]
    assert codec.keyring().current_key_id == (folder / "codec_keys").read_text().split(":")[0]
    assert codec.operator_token_values() == ((folder / "operator_tokens").read_text().strip(),)
    assert codec.codec_session_secret is not None


def test_with_secret_files_exports_and_hides_the_path(workdir: Path) -> None:
    secret = workdir / "pwd"
    secret.write_text("s3cret value\n")
    wrapper = str(DEPLOY / "temporal" / "with-secret-files.sh")
    show = 'printf "%s|%s" "$POSTGRES_PWD" "${POSTGRES_PWD_FILE:-unset}"'
    env = {"PATH": os.environ["PATH"], "POSTGRES_PWD_FILE": str(secret)}
    done = subprocess.run(
        ["sh", wrapper, "sh", "-c", show], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout == "s3cret value|unset"
    env["POSTGRES_PWD_FILE"] = str(workdir / "missing")
    failed = subprocess.run(["sh", wrapper, "true"], env=env, capture_output=True, text=True)
    assert failed.returncode == 1
    assert "POSTGRES_PWD_FILE" in failed.stderr


def _pg_bin() -> Path:
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


async def test_initdb_script_on_a_throwaway_postgresql(workdir: Path) -> None:
    """deploy/postgres/initdb as the postgres image runs it, reading the password files."""
    if shutil.which("bash") is None:
        pytest.skip("bash is missing")
    server = EmbeddedPostgres(workdir / "pg", delete=True)
    try:
        folder = workdir / "secrets"
        make_secrets(folder)
        socket_dir = server.dsn.split("host=", 1)[1].split("&", 1)[0]
        env = {
            "PATH": f"{_pg_bin()}{os.pathsep}{os.environ['PATH']}",
            "PGHOST": socket_dir,
            "POSTGRES_USER": "postgres",
            "CARE_RECORDS_DB_PASSWORD_FILE": str(folder / "records_db_password"),
            "TEMPORAL_DB_PASSWORD_FILE": str(folder / "temporal_db_password"),
        }
        script = DEPLOY / "postgres" / "initdb" / "10-carepath-databases.sh"
        done = await asyncio.to_thread(
            subprocess.run, ["bash", str(script)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        conn = await asyncpg.connect(server.dsn)
        try:
            roles = {
                r["rolname"]: r["rolpassword"]
                for r in await conn.fetch(
                    "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY($1)",
                    ["carepath", "temporal"],
                )
            }
            dbs = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        finally:
            await conn.close()
        assert set(roles) == {"carepath", "temporal"}
        assert all(roles.values()), "both roles have a password"
        assert {"carepath", "temporal", "temporal_visibility"} <= dbs
    finally:
        server.close()


async def test_setup_namespace_script_on_the_dev_server(dev_env: WorkflowEnvironment) -> None:
    """deploy/temporal/setup-namespace.sh with compose's environment, twice (idempotent)."""
    tools = COMPOSE["services"]["temporal-admin-tools"]["environment"]
    namespace = f"carepath-setup-{os.getpid()}"
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "NAMESPACE": namespace,
        "NAMESPACE_RETENTION": "72h",
        "SEARCH_ATTRIBUTES": tools["SEARCH_ATTRIBUTES"],
    }
    script = str(DEPLOY / "temporal" / "setup-namespace.sh")
    for expected in ("created", "exists"):
        done = await asyncio.create_subprocess_exec(
            "sh", script, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await done.communicate()
        assert done.returncode == 0, err.decode()
        assert f"namespace {namespace} {expected}" in out.decode()
    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    assert {key.name for key in ALL_KEYS} <= set(listed.custom_attributes)
    assert json.dumps(sorted(listed.custom_attributes)).count("RiskFlag") == 1
