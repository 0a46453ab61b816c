"""Codec and codec-server settings from the environment (prefix CAREPATH_).

Kept apart from `config.settings.Settings` so the codec server can run on its own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from codec.keys import KeyRing, load_keyring
from config.secret_files import FileVariantSettings


class CodecSettings(FileVariantSettings):
    model_config = SettingsConfigDict(env_prefix="CAREPATH_", extra="ignore")

    # Keys: `kid2:<b64>,kid1:<b64>` (newest first) and/or a file of such entries.
    codec_keys: SecretStr | None = None
    codec_key_file: Path | None = None

    # Codec server.
    codec_host: str = "127.0.0.1"
    codec_port: int = 8081
    codec_ui_origin: str = "http://127.0.0.1:8233"
    # Operator bearer tokens, comma-separated, and/or a file with one per line.
    operator_tokens: SecretStr | None = None
    operator_token_file: Path | None = None
    # Signs session cookies; a random per-process secret when unset (restart = sign in again).
    codec_session_secret: SecretStr | None = None
    codec_session_ttl_seconds: int = 8 * 3600
    # Set when the codec server is reached over HTTPS, so the cookie is `Secure`.
    codec_cookie_secure: bool = False

    def keyring(self) -> KeyRing:
        """The configured key ring (env keys first, then the key file)."""
        spec = self.codec_keys.get_secret_value() if self.codec_keys else None
        return load_keyring(spec=spec, key_file=self.codec_key_file)

    def operator_token_values(self) -> tuple[str, ...]:
        """All accepted operator tokens; empty means nobody can use the codec server."""
        tokens: list[str] = []
        if self.operator_tokens:
            tokens.extend(self.operator_tokens.get_secret_value().split(","))
        if self.operator_token_file is not None and self.operator_token_file.exists():
            text = self.operator_token_file.read_text(encoding="utf-8")
            tokens.extend(line.split("#", 1)[0] for line in text.splitlines())
        return tuple(t.strip() for t in tokens if t.strip())
