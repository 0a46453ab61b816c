"""AES-256-GCM payload codec: every payload leaves the process encrypted.

Each encrypted payload is `nonce (12 random bytes) || ciphertext+tag` of the whole serialized
original payload (metadata included), with metadata `encoding: binary/encrypted` and
`encryption-key-id: <kid>`. The key ID is also the GCM associated data, so a payload whose
key ID label was swapped fails authentication instead of decrypting under the wrong key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from codec.keys import KeyRing

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12


class PayloadDecryptionError(ValueError):
    """An encrypted payload failed authentication: tampered, truncated or mislabeled."""


class EncryptionCodec(PayloadCodec):
    """Encrypts with the key ring's newest key; decrypts with the key each payload names."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring
        self._ciphers: dict[str, AESGCM] = {}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._keyring.current_key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher(key_id).encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """Decrypt an encrypted payload; others (written without a codec) pass unchanged."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_key_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_key_id is None:
            raise PayloadDecryptionError("encrypted payload has no encryption-key-id")
        key_id = raw_key_id.decode("utf-8", errors="replace")
        cipher = self._cipher(key_id)
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, raw_key_id)
        except InvalidTag:
            raise PayloadDecryptionError(
                f"encrypted payload failed authentication under key {key_id!r} "
                "(tampered, truncated or mislabeled)"
            ) from None
        original = Payload()
        original.ParseFromString(plain)
        return original

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = AESGCM(self._keyring.key(key_id))
            self._ciphers[key_id] = cipher
        return cipher
