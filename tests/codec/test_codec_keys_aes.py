"""Key ring and AES-256-GCM codec: round trip, rotation, missing keys, tampering."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from codec.aes import ENCODING, KEY_ID_METADATA, EncryptionCodec, PayloadDecryptionError
from codec.keys import (
    KeyConfigError,
    KeyRing,
    MissingKeyError,
    ensure_dev_key,
    format_key_entry,
    load_keyring,
)

SECRET = b'{"name":"Zyxwvut Qqqpatient"}'


def plain(data: bytes = SECRET) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


async def test_round_trip_hides_plaintext_and_restores_metadata() -> None:
    codec = EncryptionCodec(KeyRing.generate("k1"))
    [encrypted] = await codec.encode([plain()])
    assert encrypted.metadata["encoding"] == ENCODING
    assert encrypted.metadata[KEY_ID_METADATA] == b"k1"
    assert b"Qqqpatient" not in encrypted.SerializeToString()
    assert b"json/plain" not in encrypted.SerializeToString()
    [decrypted] = await codec.decode([encrypted])
    assert decrypted == plain()


async def test_same_payload_encrypts_differently_each_time() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    first, second = await codec.encode([plain(), plain()])
    assert first.data != second.data


async def test_rotation_old_key_still_decrypts_and_new_payloads_use_newest() -> None:
    old_ring = KeyRing.generate("kid1")
    [old_payload] = await EncryptionCodec(old_ring).encode([plain()])
    old_key = old_ring.key("kid1")
    new_key = os.urandom(32)
    rotated = KeyRing.parse(
        f"{format_key_entry('kid2', new_key)},{format_key_entry('kid1', old_key)}"
    )
    codec = EncryptionCodec(rotated)

    assert rotated.current_key_id == "kid2"
    assert await codec.decode([old_payload]) == [plain()]
    [new_payload] = await codec.encode([plain()])
    assert new_payload.metadata[KEY_ID_METADATA] == b"kid2"
    # a ring holding only the retired key cannot read what the new key wrote
    with pytest.raises(MissingKeyError):
        await EncryptionCodec(old_ring).decode([new_payload])


async def test_missing_key_is_an_error_naming_the_key_id() -> None:
    [payload] = await EncryptionCodec(KeyRing.generate("retired-2023")).encode([plain()])
    with pytest.raises(MissingKeyError, match="retired-2023") as caught:
        await EncryptionCodec(KeyRing.generate("current")).decode([payload])
    assert caught.value.key_id == "retired-2023"


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
async def test_tampered_payload_fails_authentication(where: str) -> None:
    codec = EncryptionCodec(KeyRing.generate())
    [payload] = await codec.encode([plain()])
    data = bytearray(payload.data)
    index = {"nonce": 0, "ciphertext": 15, "tag": len(data) - 1}[where]
    data[index] ^= 0x01
    payload.data = bytes(data)
    with pytest.raises(PayloadDecryptionError):
        await codec.decode([payload])


async def test_relabeled_key_id_fails_authentication() -> None:
    """Swapping the key-ID label is caught: the key ID is GCM associated data."""
    key = os.urandom(32)
    ring = KeyRing.of([("a", key), ("b", key)])
    codec = EncryptionCodec(ring)
    [payload] = await codec.encode([plain()])
    payload.metadata[KEY_ID_METADATA] = b"b"
    with pytest.raises(PayloadDecryptionError):
        await codec.decode([payload])


async def test_unencrypted_payloads_pass_through_decode() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    assert await codec.decode([plain()]) == [plain()]


def test_spec_parsing_rejects_bad_keys() -> None:
    short = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(KeyConfigError, match="32"):
        KeyRing.parse(f"k:{short}")
    with pytest.raises(KeyConfigError, match="base64"):
        KeyRing.parse("k:not*base64")
    good = format_key_entry("k", os.urandom(32))
    with pytest.raises(KeyConfigError, match="twice"):
        KeyRing.parse(f"{good},{good}")
    with pytest.raises(KeyConfigError, match="no codec keys"):
        load_keyring(spec="", key_file=None)


def test_repr_never_shows_key_material() -> None:
    ring = KeyRing.generate("k")
    assert base64.b64encode(ring.key("k")).decode() not in repr(ring)
    assert "k" in repr(ring)


def test_env_keys_come_before_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# old\n" + format_key_entry("file-key", os.urandom(32)) + "\n")
    ring = load_keyring(spec=format_key_entry("env-key", os.urandom(32)), key_file=key_file)
    assert ring.key_ids == ("env-key", "file-key")


def test_dev_key_is_created_once_private_and_loadable(tmp_path: Path) -> None:
    path = ensure_dev_key(tmp_path)
    assert path.parent == tmp_path / "keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    first = path.read_text()
    assert ensure_dev_key(tmp_path) == path
    assert path.read_text() == first
    ring = load_keyring(key_file=path)
    assert ring.current_key_id.startswith("dev-")
