"""TLS, and mutual TLS, to the Temporal frontend (the SDK's `TLSConfig`).

The frontend's own side (server certificate, client CA, `requireClientAuth`) and its
authorizer are configured on the Temporal server: deploy/README.md, "TLS".
"""

from __future__ import annotations

from pathlib import Path

from temporalio.service import TLSConfig

from config.settings import Settings


class TlsConfigError(ValueError):
    """A TLS setting that cannot work (named in the message)."""


def _read(path: Path | None, setting: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as err:
        raise TlsConfigError(f"{setting}={path}: {err.strerror}") from None


def temporal_tls(settings: Settings) -> TLSConfig | bool:
    """False (plain, the dev stack on loopback), or a TLSConfig from the files set.

    Any TLS file implies TLS; a client certificate needs its key and vice versa.
    """
    files = (
        settings.temporal_tls_ca_file,
        settings.temporal_tls_cert_file,
        settings.temporal_tls_key_file,
    )
    if not settings.temporal_tls and not any(files) and not settings.temporal_tls_server_name:
        return False
    if (settings.temporal_tls_cert_file is None) != (settings.temporal_tls_key_file is None):
        raise TlsConfigError(
            "mutual TLS needs both CAREPATH_TEMPORAL_TLS_CERT_FILE and "
            "CAREPATH_TEMPORAL_TLS_KEY_FILE"
        )
    return TLSConfig(
        server_root_ca_cert=_read(settings.temporal_tls_ca_file, "CAREPATH_TEMPORAL_TLS_CA_FILE"),
        client_cert=_read(settings.temporal_tls_cert_file, "CAREPATH_TEMPORAL_TLS_CERT_FILE"),
        client_private_key=_read(settings.temporal_tls_key_file, "CAREPATH_TEMPORAL_TLS_KEY_FILE"),
        domain=settings.temporal_tls_server_name,
    )
