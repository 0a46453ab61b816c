"""The patient email channel against a local SMTP server (aiosmtpd on 127.0.0.1).

- `outbox_messages_per_s`: queued patient messages the dispatcher hands to SMTP per second
  (contacts read from PostgreSQL, one SMTP session per message, rows marked sent).
- `decision_to_smtp_accept_p99_ms`: from the engine's decision being committed (the record
  batch with its outbox row, as `record_effects` writes it) to the SMTP server accepting
  the message, with the dispatcher woken by LISTEN/NOTIFY; beside it the same figure for a
  dispatcher polling every second (`..._polling_1s`), in the same run.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import asyncpg
from aiosmtpd.controller import Controller

from rules.messaging import MessagingPolicy
from schemas.episode import ContactPreferences
from schemas.records import EffectBatch, EpisodeSnapshot, NotificationRequest, Recipient
from store.channels.contacts import MessagingChannel, PostgresContacts
from store.channels.email import EmailSender, SmtpTarget
from store.channels.patient import PATIENT_CHANNEL, PatientChannel, Sender
from store.channels.routing import route_by_recipient
from store.outbox import Channel, Dispatcher, LogChannel
from store.outbox_runner import run_dispatcher
from store.postgres import DEFAULT_CHANNEL, PostgresRecordStore
from tests.pg import scratch_schema_pool

THROUGHPUT_MESSAGES = 200
LATENCY_SAMPLES = 40
POLLING_SAMPLES = 20
OPEN = MessagingPolicy(quiet_hours_start=0, quiet_hours_end=0, max_messages=100)


class _Accepting:
    def __init__(self) -> None:
        self.accepted_at: list[float] = []

    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:
        self.accepted_at.append(time.perf_counter())
        return "250 accepted"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _batch(seq: int, episode_id: str, at: Any) -> EffectBatch:
    snapshot = EpisodeSnapshot.model_validate(
        {
            "episode_id": episode_id,
            "program_id": "bench",
            "phase": "assessment",
            "outcome": None,
            "authorized_level": None,
            "delivered_level": None,
            "started_at": at,
            "closed_at": None,
            "next_review_due": None,
            "risk_flag": False,
            "baseline_phq9": None,
            "latest_phq9": None,
            "updated_at": at,
        }
    )
    return EffectBatch(
        workflow_id=f"care-episode-{episode_id}",
        run_id="bench",
        seq=seq,
        episode=snapshot,
        notifications=[
            NotificationRequest(
                message_id=f"care-episode-{episode_id}:m{seq}",
                episode_id=episode_id,
                program_id="bench",
                recipient=Recipient.PATIENT,
                template="new_message",
            )
        ],
    )


def _p99_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, round(0.99 * (len(ordered) - 1))))
    return round(ordered[index] * 1000, 1)


async def run_channels_bench(dsn: str) -> dict[str, float]:
    handler = _Accepting()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with scratch_schema_pool(dsn, prefix="chbench", max_size=6) as pool:
            return await _measure(pool, handler, port)
    finally:
        controller.stop()


async def _measure(pool: asyncpg.Pool, handler: _Accepting, port: int) -> dict[str, float]:
    email = EmailSender(
        SmtpTarget.from_url(f"smtp://127.0.0.1:{port}?starttls=false"), "care@bench.example"
    )
    senders: dict[MessagingChannel, Sender] = {MessagingChannel.EMAIL: email}
    channels: dict[str, Channel] = {
        DEFAULT_CHANNEL: LogChannel(),
        PATIENT_CHANNEL: PatientChannel(pool, senders),
    }
    store = PostgresRecordStore(pool, channel_for=route_by_recipient(True))
    contacts = PostgresContacts(pool)
    now = await pool.fetchval("SELECT now()")
    for i in range(THROUGHPUT_MESSAGES):
        episode_id = f"bench-{i}"
        await contacts.save_new(
            episode_id,
            ContactPreferences(email=True, email_address=f"p{i}@bench.example", time_zone="UTC"),
            OPEN,
        )
        await store.apply(_batch(1, episode_id, now))

    dispatcher = Dispatcher(pool, channels, batch_size=50)
    began = time.perf_counter()
    sent = 0
    while sent < THROUGHPUT_MESSAGES:
        report = await dispatcher.dispatch_due()
        if report.claimed == 0:
            break
        sent += report.sent
    per_s = sent / (time.perf_counter() - began)

    listened = await _latencies(pool, store, handler, channels, LATENCY_SAMPLES, listen=True)
    polled = await _latencies(pool, store, handler, channels, POLLING_SAMPLES, listen=False)
    return {
        "outbox_messages_per_s": round(per_s, 1),
        "decision_to_smtp_accept_p99_ms": _p99_ms(listened),
        "decision_to_smtp_accept_p50_ms": round(statistics.median(listened) * 1000, 1),
        "decision_to_smtp_accept_p99_ms_polling_1s": _p99_ms(polled),
        "decision_to_smtp_accept_p50_ms_polling_1s": round(statistics.median(polled) * 1000, 1),
    }


async def _latencies(
    pool: asyncpg.Pool,
    store: PostgresRecordStore,
    handler: _Accepting,
    channels: dict[str, Channel],
    samples: int,
    *,
    listen: bool,
) -> list[float]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_dispatcher(
            pool, channels, stop=stop, listen=listen, poll_interval=10.0 if listen else 1.0
        )
    )
    seq_base = 1000 if listen else 2000
    latencies: list[float] = []
    try:
        await asyncio.sleep(0.2)  # first pass done, listening
        now = await pool.fetchval("SELECT now()")
        for i in range(samples):
            before = len(handler.accepted_at)
            began = time.perf_counter()
            await store.apply(_batch(seq_base + i, f"bench-{i}", now))
            for _ in range(3000):
                if len(handler.accepted_at) > before:
                    break
                await asyncio.sleep(0.002)
            else:
                raise RuntimeError("message not accepted by the SMTP server")
            latencies.append(handler.accepted_at[before] - began)
    finally:
        stop.set()
        await task
    return latencies
