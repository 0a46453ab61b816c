"""Helpers for the encryption proof: free ports, the codec server, the `temporal` CLI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from pydantic import SecretStr
from temporalio.client import Client

from codec.keys import KeyRing
from codec.server import build_codec_server
from codec.settings import CodecSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def running_codec_server(keyring: KeyRing, token: str) -> AsyncIterator[str]:
    """Serve the codec app on a free port; yield its base URL."""
    port = free_port()
    settings = CodecSettings(operator_tokens=SecretStr(token), codec_port=port)
    server = build_codec_server(keyring, settings, host="127.0.0.1", port=port)
    task = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        await task


async def temporal_cli(address: str, *args: str) -> str:
    """Run `temporal ...` against `address`, ignoring any user config or TEMPORAL_* env."""
    binary = shutil.which("temporal")
    assert binary, "the `temporal` CLI must be on PATH (it is in .venv/bin)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    proc = await asyncio.create_subprocess_exec(
        binary,
        *args,
        "--address",
        address,
        "--namespace",
        "default",
        "--disable-config-file",
        "--disable-config-env",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"temporal {args[:2]} failed: {err.decode()[-2000:]}"
    return out.decode()


def read_database_files(db: Path) -> bytes:
    """Every byte of the SQLite database and its WAL/journal side files."""
    files = sorted(db.parent.glob(db.name + "*"))
    assert files, f"no database files at {db}"
    return b"".join(f.read_bytes() for f in files)


def client_without_codec(client: Client) -> Client:
    """Same connection and namespace, default converter: sees what the server stores."""
    return Client(client.service_client, namespace=client.namespace)
