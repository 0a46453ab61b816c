"""The one data converter every carepath client and worker uses.

Pydantic JSON payloads, encrypted by `EncryptionCodec`, and a failure converter that moves
failure messages and stack traces into an encoded (so encrypted) attribute. With the codec on
the client and worker, Temporal 1.35 encrypts: workflow/activity/child inputs and results,
signal, query and update arguments and results, memos, user metadata (workflow, activity and
timer summaries and details), the current-details query, heartbeat details and failure
messages/details. It does NOT encrypt search attributes, workflow IDs, task queue names,
workflow/activity type names, update/query names or failure `type` strings: keep
identifiers out of those.
"""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from codec.aes import EncryptionCodec
from codec.keys import KeyRing


def build_data_converter(keyring: KeyRing) -> DataConverter:
    """Pydantic converter + AES-256-GCM codec + encrypted failure messages."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
