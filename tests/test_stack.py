"""Integration: the whole `make run` stack, run the way a newcomer runs it.

Starts `python -m worker.stack` as a subprocess on a fresh data folder and free loopback
ports (so a developer's own `make run` on the default ports is left alone), without
DATABASE_URL (so PostgreSQL is the embedded one under the data folder), and checks from
the outside, over HTTP only:

- the "carepath is running" banner comes within 120 s;
- the API is ready (Temporal and PostgreSQL both answer, the worker's outbox dispatcher
  reports its passes), the Temporal Web UI answers;
- the codec server refuses /decode without a credential and, with the operator token,
  decrypts the episode's start input as Temporal stored it (encrypted: no patient text);
- an episode started by the clinic-system key is in `assessment`; a care-team assessment
  gets the engine's decision `insurance_verification` back at once, and the worker then
  checks eligibility with the sandbox payer and files the prior authorization
  (`authorization`, pending with the payer);
- SIGINT to the stack's process group stops it within 40 s with exit status 0, every
  process it started gone (Temporal, codec, worker, API, embedded PostgreSQL), ports closed;
- started again on the same data folder, the episode is still there, in the workflow
  (Temporal's SQLite file) and in the records (embedded PostgreSQL).

It runs in `make test` (about 11 s); marked `devserver` since it runs the Temporal dev
server binary.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

pytestmark = pytest.mark.devserver

REPO = Path(__file__).resolve().parent.parent
BANNER = "carepath is running:"
START_WITHIN_S = 120.0
STOP_WITHIN_S = 40.0
EPISODE = "stack-1"
PATIENT_REF = "MRN-STACK-1"
# `make run`'s defaults, so a developer's running stack is never in the way.
RESERVED_PORTS = frozenset({7233, 8233, 8000, 8081})


def free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1, below the kernel's ephemeral range.

    Ports from `bind(0)` come from the ephemeral range, where every other test server on
    the machine (and the dev server's own internal services) also draw theirs, so one could
    be taken again before the stack binds it. Below that range, only fixed ports collide.
    """
    low = 32768
    with suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    chosen: list[int] = []
    while len(chosen) < count:
        port = rng.randrange(max(1024, low - 12000), low)
        if port in chosen or port in RESERVED_PORTS:
            continue
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
    return chosen


def port_open(port: int) -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class StackConfig:
    data_dir: Path
    temporal_port: int
    ui_port: int
    api_port: int
    codec_port: int

    @property
    def ports(self) -> dict[str, int]:
        return {
            "temporal": self.temporal_port,
            "temporal-ui": self.ui_port,
            "api": self.api_port,
            "codec": self.codec_port,
        }

    def env(self) -> dict[str, str]:
        """The caller's environment without any carepath setting or DATABASE_URL, plus ours."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("CAREPATH_") and name != "DATABASE_URL"
        }
        venv_bin = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")])
        env["PYTHONUNBUFFERED"] = "1"
        env.update(
            {
                "CAREPATH_DATA_DIR": str(self.data_dir),
                "CAREPATH_TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
                "CAREPATH_TEMPORAL_UI_PORT": str(self.ui_port),
                "CAREPATH_API_HOST": "127.0.0.1",
                "CAREPATH_API_PORT": str(self.api_port),
                "CAREPATH_CODEC_HOST": "127.0.0.1",
                "CAREPATH_CODEC_PORT": str(self.codec_port),
            }
        )
        return env

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def codec_url(self) -> str:
        return f"http://127.0.0.1:{self.codec_port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def keys(self) -> dict[str, str]:
        """Development API keys by role, as the stack wrote them."""
        path = self.data_dir / "keys" / "api-keys.json"
        entries: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
        return {str(entry["role"]): token for token, entry in entries.items()}

    def workbench_accounts(self) -> dict[str, tuple[str, str]]:
        """Development people by role: (username, password), as the stack wrote them."""
        path = self.data_dir / "keys" / "workbench-accounts.json"
        rows: list[dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
        return {row["role"]: (row["username"], row["password"]) for row in rows}

    def operator_token(self) -> str:
        return (self.data_dir / "keys" / "operator-token").read_text(encoding="utf-8").strip()


@dataclass
class RunningStack:
    process: asyncio.subprocess.Process
    log: Path
    started: list[psutil.Process] = field(default_factory=list)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def embedded_postgres(pgdata: Path) -> list[psutil.Process]:
    """The embedded server's processes (they run in their own session, as `pgserver`)."""
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in cmdline:
            found.append(proc)
    return found


async def wait_for_banner(stack: RunningStack) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_WITHIN_S
    while True:
        text = await asyncio.to_thread(stack.log.read_text, encoding="utf-8", errors="replace")
        if BANNER in text:
            return
        if stack.process.returncode is not None:
            pytest.fail(
                f"the stack exited ({stack.process.returncode}) before it was running:\n"
                + stack.log_tail()
            )
        if loop.time() > deadline:
            pytest.fail(f"no {BANNER!r} within {START_WITHIN_S:.0f} s:\n" + stack.log_tail())
        await asyncio.sleep(0.2)


async def kill_everything(stack: RunningStack, config: StackConfig) -> None:
    """Last resort: the group, then whatever it started (they have sessions of their own)."""
    if stack.process.returncode is None:
        with suppress(ProcessLookupError):
            os.killpg(stack.process.pid, signal.SIGKILL)
        await stack.process.wait()
    for proc in stack.started:
        with suppress(psutil.NoSuchProcess):
            proc.kill()
    for proc in embedded_postgres(config.data_dir / "pg"):
        with suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
    await asyncio.to_thread(psutil.wait_procs, embedded_postgres(config.data_dir / "pg"), 10)
    for proc in embedded_postgres(config.data_dir / "pg"):
        with suppress(psutil.NoSuchProcess):
            proc.kill()


@asynccontextmanager
async def running_stack(config: StackConfig, run: int) -> AsyncIterator[RunningStack]:
    """`python -m worker.stack` in its own process group; killed in any case on the way out."""
    for name, port in config.ports.items():
        assert not port_open(port), f"{name} port {port} is taken before the stack starts"
    log = config.data_dir.parent / f"stack-run-{run}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "worker.stack",
            cwd=REPO,
            env=config.env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    stack = RunningStack(process=process, log=log)
    try:
        await wait_for_banner(stack)
        stack.started = psutil.Process(process.pid).children(recursive=True)
        stack.started += embedded_postgres(config.data_dir / "pg")
        yield stack
    finally:
        await kill_everything(stack, config)


async def stop_with_sigint(stack: RunningStack, config: StackConfig) -> float:
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group. Returns seconds."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    os.killpg(stack.process.pid, signal.SIGINT)
    try:
        status = await asyncio.wait_for(stack.process.wait(), STOP_WITHIN_S)
    except TimeoutError:
        pytest.fail(f"the stack did not stop within {STOP_WITHIN_S:.0f} s:\n" + stack.log_tail())
    took = loop.time() - began
    assert status == 0, f"exit status {status}:\n{stack.log_tail()}"
    assert "carepath stopped." in stack.log_tail()
    _, alive = await asyncio.to_thread(psutil.wait_procs, stack.started, 5)
    names = {proc.pid: _describe(proc) for proc in alive}
    assert not alive, f"still running after the stack exited: {names}"
    assert not embedded_postgres(config.data_dir / "pg"), "embedded PostgreSQL still running"
    still_open = [name for name, port in config.ports.items() if port_open(port)]
    assert not still_open, f"ports still open after stop: {still_open}"
    return took


def _describe(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:120]
    except psutil.Error:
        return "?"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def stored_start_input(config: StackConfig) -> dict[str, object]:
    """The episode's start input as Temporal stored it, in codec-server JSON form."""
    client = await Client.connect(f"127.0.0.1:{config.temporal_port}")
    history = await client.get_workflow_handle(f"care-episode-{EPISODE}").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return json_format.MessageToDict(Payloads(payloads=list(started.input.payloads)))


def payload_text(payloads: dict[str, object]) -> str:
    items = payloads.get("payloads")
    assert isinstance(items, list) and items, payloads
    return "".join(
        base64.b64decode(item.get("data", "")).decode("utf-8", "replace") for item in items
    )


async def check_first_run(config: StackConfig) -> None:
    keys = config.keys()
    assert set(keys) == {"clinic-system", "care-team", "utilization-review", "operator"}
    async with httpx.AsyncClient(timeout=30.0) as http:
        ready = await ready_with_dispatcher(http, config)
        assert ready == {
            "status": "ok",
            "temporal": True,
            "postgres": True,
            "dispatcher": True,
            "parked_batches": 0,
        }

        ui = await http.get(config.ui_url)
        assert ui.status_code == 200, ui.status_code

        started = await http.post(
            f"{config.api_url}/v1/episodes",
            headers=bearer(keys["clinic-system"]),
            json={
                "episode_id": EPISODE,
                "program_id": "p1",
                "patient": {"patient_ref": PATIENT_REF},
                "coverage": {"payer_id": "SBX", "member_id": "M1"},
            },
        )
        assert started.status_code == 201, started.text
        view = await http.get(
            f"{config.api_url}/v1/episodes/{EPISODE}", headers=bearer(keys["care-team"])
        )
        assert view.status_code == 200, view.text
        assert view.json()["phase"] == "assessment"

        assessed = await http.post(
            f"{config.api_url}/v1/episodes/{EPISODE}/assessment",
            headers=bearer(keys["care-team"]),
            json={
                "assessment_id": "stack-asm-1",
                "clinician_id": "dev-care-team",
                "phq9": {"items": [2, 2, 2, 2, 2, 1, 1, 1, 0]},
                "determination": {"instrument": "LOCUS", "level": "iop", "rationale": "level 3"},
            },
        )
        assert assessed.status_code == 200, assessed.text
        decision = assessed.json()
        assert decision["phase"] == "insurance_verification", decision
        assert decision["target_level"] == "iop", decision

        # The codec server: no credential, no plaintext; the operator token decrypts what
        # the API's encrypting client stored in Temporal.
        stored = await stored_start_input(config)
        assert EPISODE not in payload_text(stored), "start input stored unencrypted"
        refused = await http.post(f"{config.codec_url}/decode", json=stored)
        assert refused.status_code == 401, refused.text
        decoded = await http.post(
            f"{config.codec_url}/decode", json=stored, headers=bearer(config.operator_token())
        )
        assert decoded.status_code == 200, decoded.text
        # Decrypted, the start holds the episode, and the patient only as the opaque key:
        # the MRN stayed in PostgreSQL (store/patients.py).
        assert EPISODE in payload_text(decoded.json())
        assert PATIENT_REF not in payload_text(decoded.json())

        # The worker carries on alone: eligibility with the sandbox payer (member M1: active,
        # prior authorization required), then the request is filed and pends with the payer.
        phase = await phase_within(http, config, keys["care-team"], "authorization", 20.0)
        assert phase == "authorization"


async def ready_with_dispatcher(http: httpx.AsyncClient, config: StackConfig) -> object:
    """/readyz once the worker's outbox dispatcher has reported its first pass."""
    for _ in range(100):
        ready = await http.get(f"{config.api_url}/readyz")
        assert ready.status_code == 200, ready.text
        if ready.json().get("dispatcher"):
            break
        await asyncio.sleep(0.2)
    return ready.json()


async def check_workbench(config: StackConfig, stack: RunningStack) -> None:
    """The banner names the workbench and its accounts; each role's account signs in."""
    accounts = config.workbench_accounts()
    assert set(accounts) == {
        "care-team",
        "utilization-review",
        "supervisor",
        "program-admin",
        "operator",
    }
    banner = stack.log_tail(80)
    assert f"{config.api_url}/app/" in banner
    for username, password in accounts.values():
        assert f"{username} / {password}" in banner
    async with httpx.AsyncClient(base_url=config.api_url, timeout=30.0) as browser:
        login = await browser.get("/app/login")
        token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        username, password = accounts["care-team"]
        signed = await browser.post(
            "/app/login",
            data={"username": username, "password": password, "csrf_token": token},
        )
        assert signed.status_code == 303, signed.text
        today = await browser.get("/app/")
        assert today.status_code == 200 and "Open risk flags" in today.text


async def phase_within(
    http: httpx.AsyncClient, config: StackConfig, token: str, expected: str, within_s: float
) -> str:
    """Poll the episode's live phase until it is `expected` (or the time is up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        view = await http.get(f"{config.api_url}/v1/episodes/{EPISODE}", headers=bearer(token))
        assert view.status_code == 200, view.text
        phase = str(view.json()["phase"])
        if phase == expected or loop.time() > deadline:
            return phase
        await asyncio.sleep(0.2)


async def check_after_restart(config: StackConfig) -> None:
    keys = config.keys()
    async with httpx.AsyncClient(timeout=30.0) as http:
        ready = await http.get(f"{config.api_url}/readyz")
        assert ready.status_code == 200, ready.text
        view = await http.get(
            f"{config.api_url}/v1/episodes/{EPISODE}", headers=bearer(keys["care-team"])
        )
        assert view.status_code == 200, view.text
        assert view.json()["phase"] == "authorization", view.json()
        assert view.json()["pending_payer_request"] is not None, view.json()
        assert view.json()["scores"]["baseline_phq9"] == 13, view.json()["scores"]

        # The records (PostgreSQL) survived too: the census lists the episode.
        listed = await http.get(
            f"{config.api_url}/v1/episodes",
            params={"program": "p1"},
            headers=bearer(keys["care-team"]),
        )
        assert listed.status_code == 200, listed.text
        rows = {row["episode_id"]: row for row in listed.json()["items"]}
        assert rows.get(EPISODE, {}).get("phase") == "authorization", rows


@pytest.fixture
def data_root() -> Iterator[Path]:
    """Not pytest's tmp_path: the embedded PostgreSQL runs as its own system user, and any
    pytest session on the machine resets /tmp/pytest-of-<user> to mode 0700 (initdb and
    pg_ctl then fail with "Permission denied")."""
    root = Path(tempfile.mkdtemp(prefix="carepath-stack-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def test_make_run_stack_serves_stops_cleanly_and_keeps_state(data_root: Path) -> None:
    tmp_path = data_root
    temporal_port, ui_port, api_port, codec_port = free_ports(4)
    config = StackConfig(
        data_dir=tmp_path / "data",
        temporal_port=temporal_port,
        ui_port=ui_port,
        api_port=api_port,
        codec_port=codec_port,
    )

    async with running_stack(config, run=1) as stack:
        # make run chooses the stand-ins explicitly, and says so.
        banner = stack.log.read_text(encoding="utf-8", errors="replace")
        assert "Integrations   payer sandbox" in banner, stack.log_tail()
        assert "(CAREPATH_ENV=development)" in banner, stack.log_tail()
        await check_first_run(config)
        await check_workbench(config, stack)
        first_stop_s = await stop_with_sigint(stack, config)

    async with running_stack(config, run=2) as stack:
        await check_after_restart(config)
        await check_workbench(config, stack)  # the same accounts, not created twice
        second_stop_s = await stop_with_sigint(stack, config)

    print(f"stops took {first_stop_s:.1f} s and {second_stop_s:.1f} s")
