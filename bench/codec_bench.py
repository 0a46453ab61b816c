"""Codec benchmark: AES-256-GCM encode/decode throughput and the converter's round trip.

Each piece is an `async def` returning dict[str, float]; none of this belongs in timed tests.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Awaitable, Callable

from temporalio.api.common.v1 import Payload

from codec.aes import EncryptionCodec
from codec.converter import build_data_converter
from codec.keys import KeyRing
from schemas.episode import Coverage, EpisodeStart, PatientRef


def _payloads(size: int, count: int) -> list[Payload]:
    return [
        Payload(metadata={"encoding": b"json/plain"}, data=os.urandom(size)) for _ in range(count)
    ]


async def _timed(run: Callable[[], Awaitable[object]], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        await run()
    return time.perf_counter() - start


async def bench_codec_throughput(sizes: tuple[int, ...] = (1024, 65536)) -> dict[str, float]:
    """MB/s and µs per payload for encode and decode at each payload size."""
    codec = EncryptionCodec(KeyRing.generate("bench"))
    results: dict[str, float] = {}
    for size in sizes:
        batch = _payloads(size, 64)
        encrypted = await codec.encode(batch)
        repeat = max(4, (8 * 1024 * 1024) // (size * len(batch)))
        encode_s = await _timed(functools.partial(codec.encode, batch), repeat)
        decode_s = await _timed(functools.partial(codec.decode, encrypted), repeat)
        n = repeat * len(batch)
        mb = n * size / 1e6
        results[f"encode_{size}b_mb_per_s"] = mb / encode_s
        results[f"decode_{size}b_mb_per_s"] = mb / decode_s
        results[f"encode_{size}b_us_per_payload"] = encode_s / n * 1e6
        results[f"decode_{size}b_us_per_payload"] = decode_s / n * 1e6
    return results


async def bench_episode_start_round_trip(repeat: int = 2000) -> dict[str, float]:
    """µs to encode+decode one EpisodeStart through the full carepath converter."""
    converter = build_data_converter(KeyRing.generate("bench"))
    start = EpisodeStart(
        program_id="iop-bench",
        patient=PatientRef(patient_ref="MRN-1", name="Bench Patient"),
        coverage=Coverage(payer_id="SANDBOX", member_id="M1"),
    )

    async def round_trip() -> None:
        payloads = await converter.encode([start])
        await converter.decode(payloads, [EpisodeStart])

    elapsed = await _timed(round_trip, repeat)
    encrypted_bytes = len((await converter.encode([start]))[0].data)
    return {
        "episode_start_round_trip_us": elapsed / repeat * 1e6,
        "episode_start_encrypted_bytes": float(encrypted_bytes),
    }


if __name__ == "__main__":
    import asyncio

    print(asyncio.run(bench_codec_throughput()))
    print(asyncio.run(bench_episode_start_round_trip()))
