"""Every Payload inside a Temporal protobuf message, for the tests that scan histories for
patient data (tests/api/test_api_phi_proof.py, tests/workflows/test_age_group_temporal.py)."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload inside a protobuf message: fields, repeated fields and map values."""
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            children = [v for v in value.values() if isinstance(v, Message)]
        elif field.is_repeated:
            children = list(value)
        else:
            children = [value]
        for child in children:
            if isinstance(child, Payload):
                yield child
            else:
                yield from payloads_in(child)
