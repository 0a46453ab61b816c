"""AES-256 keys by key ID, several at once, so keys can rotate without re-encrypting history.

The first key in configured order is the newest: it encrypts. Every key in the ring decrypts
the payloads that name its key ID. A payload naming a key the ring does not hold is an error
that names the key ID, so a missing key is never mistaken for a plaintext pass-through.

Key spec (env `CAREPATH_CODEC_KEYS`, or one entry per line in a key file), newest first:
    kid2:<base64 of 32 bytes>,kid1:<base64 of 32 bytes>
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

KEY_BYTES = 32
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEV_KEY_FILENAME = "codec.keys"


class KeyConfigError(ValueError):
    """The configured keys are unusable (bad spec, wrong length, duplicate ID, none at all)."""


class MissingKeyError(LookupError):
    """A payload names a key ID this key ring does not hold."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"codec key {key_id!r} is not in the key ring; add it to CAREPATH_CODEC_KEYS "
            "or the key file (keep retired keys until no history uses them)"
        )
        self.key_id = key_id


@dataclass(frozen=True)
class KeyRing:
    """Keys by key ID; `current_key_id` (the first configured) encrypts."""

    current_key_id: str
    _keys: Mapping[str, bytes]

    @classmethod
    def of(cls, keys: Iterable[tuple[str, bytes]]) -> KeyRing:
        """Build from (key ID, key) pairs, newest first."""
        ordered: dict[str, bytes] = {}
        for key_id, key in keys:
            if not KEY_ID_PATTERN.match(key_id):
                raise KeyConfigError(f"invalid codec key ID {key_id!r}: use [A-Za-z0-9._-]")
            if len(key) != KEY_BYTES:
                raise KeyConfigError(
                    f"codec key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}"
                )
            if key_id in ordered:
                raise KeyConfigError(f"codec key ID {key_id!r} is configured twice")
            ordered[key_id] = bytes(key)
        if not ordered:
            raise KeyConfigError("no codec keys configured")
        return cls(next(iter(ordered)), MappingProxyType(ordered))

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Parse `kid:base64` entries separated by commas or newlines; `#` starts a comment."""
        return cls.of(_parse_entries(spec))

    @classmethod
    def generate(cls, key_id: str = "test") -> KeyRing:
        """A ring with one fresh random key: for tests and one-off tools."""
        return cls.of([(key_id, secrets.token_bytes(KEY_BYTES))])

    @property
    def key_ids(self) -> tuple[str, ...]:
        """All key IDs, newest first."""
        return tuple(self._keys)

    def key(self, key_id: str) -> bytes:
        """The key for `key_id`, or MissingKeyError naming it."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise MissingKeyError(key_id) from None

    def __repr__(self) -> str:  # never print key material
        return f"KeyRing(current_key_id={self.current_key_id!r}, key_ids={self.key_ids!r})"


def format_key_entry(key_id: str, key: bytes) -> str:
    """One `kid:base64` entry, the form `KeyRing.parse` reads."""
    return f"{key_id}:{base64.b64encode(key).decode('ascii')}"


def new_key_entry(key_id: str) -> str:
    """A fresh random key as a `kid:base64` entry (to put in a secret store)."""
    return format_key_entry(key_id, secrets.token_bytes(KEY_BYTES))


def load_keyring(*, spec: str | None = None, key_file: Path | None = None) -> KeyRing:
    """Keys from an env-style spec and/or a key file; the spec's keys come first (newest)."""
    entries: list[tuple[str, bytes]] = []
    if spec:
        entries.extend(_parse_entries(spec))
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyConfigError(f"codec key file {key_file} does not exist") from None
        entries.extend(_parse_entries(text))
    if not entries:
        raise KeyConfigError(
            "no codec keys configured: set CAREPATH_CODEC_KEYS or CAREPATH_CODEC_KEY_FILE "
            "(`make run` creates a development key under data/keys/)"
        )
    return KeyRing.of(entries)


def ensure_dev_key(data_dir: Path) -> Path:
    """Create `data_dir/keys/codec.keys` with one random key on first call; return its path.

    For local development only (`make run`); the file is mode 0600 inside a 0700 folder,
    and data/ is ignored by git. Production passes keys in the environment instead.
    """
    keys_dir = data_dir / "keys"
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = keys_dir / DEV_KEY_FILENAME
    if path.exists():
        return path
    entry = new_key_entry(f"dev-{secrets.token_hex(4)}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of `make run` won the race
        return path
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# carepath development codec key (newest first). Never commit.\n")
        out.write(entry + "\n")
    return path


def _parse_entries(spec: str) -> list[tuple[str, bytes]]:
    entries: list[tuple[str, bytes]] = []
    for raw_line in spec.splitlines():
        line = raw_line.split("#", 1)[0]
        for raw in line.split(","):
            item = raw.strip()
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise KeyConfigError("codec key entries look like kid:<base64 of 32 bytes>")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KeyConfigError(f"codec key {key_id.strip()!r} is not valid base64") from None
            entries.append((key_id.strip(), key))
    return entries
