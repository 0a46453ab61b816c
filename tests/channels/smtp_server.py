"""A real SMTP server on 127.0.0.1 (aiosmtpd): STARTTLS or implicit TLS, authentication,
and recipients it refuses on purpose, keeping what it accepted."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER = "carepath"
PASSWORD = "smtp-test-password"
REFUSED = "refused@example.org"  # 550: no such mailbox
DEFERRED = "deferred@example.org"  # 451: try later


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_file))


@contextmanager
def self_signed() -> Iterator[Certificate]:
    """A certificate for 127.0.0.1 / localhost, trusted only by our own client context."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        yield Certificate(cert_file, key_file)


@dataclass
class Mailbox:
    """The server's handler: keeps accepted messages, refuses the two test addresses."""

    accepted: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    tls_seen: list[bool] = field(default_factory=list)

    async def handle_RCPT(
        self, _server: Any, _session: Any, envelope: Any, address: str, _options: Any
    ) -> str:
        if address == REFUSED:
            return "550 5.1.1 no such mailbox"
        if address == DEFERRED:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, _session: Any, envelope: Any) -> str:
        self.accepted.append(message_from_bytes(envelope.original_content or envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.tls_seen.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 Message accepted"


def _authenticator(
    _server: Any, _session: Any, _envelope: Any, _mechanism: str, auth: Any
) -> AuthResult:
    ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


class _TlsController(Controller):
    """STARTTLS offered (and required before AUTH) on a plain port."""

    def __init__(self, handler: Mailbox, port: int, tls: ssl.SSLContext) -> None:
        self._tls = tls
        super().__init__(handler, hostname="127.0.0.1", port=port)

    def factory(self) -> SMTP:
        return SMTP(
            self.handler,
            tls_context=self._tls,
            require_starttls=True,
            authenticator=_authenticator,
            auth_required=True,
            auth_require_tls=True,
        )


class _ImplicitTlsController(Controller):
    def factory(self) -> SMTP:
        return SMTP(
            self.handler,
            authenticator=_authenticator,
            auth_required=True,
            auth_require_tls=False,
        )


@contextmanager
def smtp_server(cert: Certificate, *, implicit_tls: bool = False) -> Iterator[tuple[Mailbox, int]]:
    """Serve a mailbox on a free port; yields it and the port."""
    mailbox = Mailbox()
    port = free_port()
    controller: Controller
    if implicit_tls:
        controller = _ImplicitTlsController(
            mailbox, hostname="127.0.0.1", port=port, ssl_context=cert.server_context()
        )
    else:
        controller = _TlsController(mailbox, port, cert.server_context())
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
