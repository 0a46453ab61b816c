"""Outbox dispatcher: delivers queued notifications through a `Channel`, with retries.

Delivery is at-least-once with a stable `message_id`: a dispatcher that dies between
sending and marking leaves the row leased; once the lease runs out another pass sends it
again with the same ID, and the receiver drops the repeat. A row is only ever `sent`
after a channel accepted it, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg

from store.dbtypes import Conn
from store.health import DISPATCHER, beat, instance_name
from store.postgres import DEFAULT_CHANNEL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxMessage:
    """One queued notification as the dispatcher hands it to a channel."""

    message_id: str
    episode_id: str
    program_id: str
    channel: str
    template: str
    recipient_role: str
    urgency: str
    params: dict[str, str]
    attempt: int

    def payload(self) -> dict[str, Any]:
        """The JSON a receiving system gets (no attempt counter: it must not change the body)."""
        return {
            "message_id": self.message_id,
            "episode_id": self.episode_id,
            "program_id": self.program_id,
            "template": self.template,
            "recipient_role": self.recipient_role,
            "urgency": self.urgency,
            "params": self.params,
        }


class Channel(Protocol):
    """Delivers one message; raises `DeliveryError` (retry) or `PermanentDeliveryError`."""

    async def deliver(self, message: OutboxMessage) -> None: ...


class DeliveryError(Exception):
    """The channel could not deliver now; the dispatcher retries with backoff."""


class PermanentDeliveryError(DeliveryError):
    """The receiver refused the message itself; retrying cannot help."""


class Undeliverable(PermanentDeliveryError):
    """The recipient cannot be reached (no consent, no address, a number that does not
    exist): the row ends `undeliverable`, which operators list beside `failed`."""


class DeferDelivery(DeliveryError):
    """Not now, and not a failure (quiet hours, a rate limit): try again at `until`,
    without using up an attempt."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until


class LogChannel:
    """The default channel: writes a log line naming the message, never its params."""

    async def deliver(self, message: OutboxMessage) -> None:
        log.info(
            "notification message_id=%s template=%s recipient=%s",
            message.message_id,
            message.template,
            message.recipient_role,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff per attempt, capped; `failed` after `max_attempts`."""

    max_attempts: int = 8
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=2)

    def delay(self, attempt: int) -> timedelta:
        """Wait after failed attempt number `attempt` (1-based): base, 2·base, 4·base, ..."""
        delay: timedelta = self.base_delay * (2 ** max(attempt - 1, 0))
        return min(self.max_delay, delay)


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.failed + self.deferred


# Errors of a database that is away or restarting: the next pass tries again.
DATABASE_OUTAGE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


AfterSend = Callable[[OutboxMessage], Awaitable[None]]


@dataclass
class Dispatcher:
    """Claims due rows with FOR UPDATE SKIP LOCKED, so several dispatchers can share a table.

    `after_send` runs between a successful delivery and marking the row sent; tests use it
    as a crash point. After each completed pass the dispatcher notes the time
    (`last_pass_at`, the process's monotonic clock) and, at most every `heartbeat_every_s`,
    moves its heartbeat row, which the API's /readyz reads.
    """

    pool: asyncpg.Pool
    channels: Channel | Mapping[str, Channel]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = utc_now
    batch_size: int = 50
    after_send: AfterSend | None = None
    instance: str = field(default_factory=instance_name)
    heartbeat_every_s: float = 5.0
    last_pass_at: float | None = None
    _last_beat: float | None = None

    def _routes(self) -> Mapping[str, Channel]:
        if isinstance(self.channels, Mapping):
            return self.channels
        return {DEFAULT_CHANNEL: self.channels}

    async def dispatch_due(self) -> DispatchReport:
        """One pass: claim up to `batch_size` due messages, deliver, record the outcome."""
        routes = self._routes()
        report = DispatchReport()
        for message in await self._claim(list(routes)):
            try:
                await routes[message.channel].deliver(message)
            except DeferDelivery as held:
                await self._defer(message, held)
                report.deferred += 1
                continue
            except Exception as error:
                if not isinstance(error, DeliveryError):
                    # A channel bug: this message's attempt failed; the rest of the pass goes on.
                    log.exception(
                        "channel raised for notification message_id=%s", message.message_id
                    )
                permanent = isinstance(error, PermanentDeliveryError)
                if permanent or message.attempt >= self.retry.max_attempts:
                    await self._mark_failed(message, error)
                    report.failed += 1
                else:
                    await self._reschedule(message, error)
                    report.retried += 1
                continue
            if self.after_send is not None:
                await self.after_send(message)
            await self._mark_sent(message)
            report.sent += 1
        return report

    async def run(
        self,
        stop: asyncio.Event,
        *,
        poll_interval: float = 1.0,
        wake: asyncio.Event | None = None,
    ) -> None:
        """Dispatch until `stop` is set; a database outage is logged and waited out.

        Between passes it waits `poll_interval`, or less when `wake` is set (a LISTEN on
        the outbox, see `store.outbox_wake`): with a wake-up the poll is only a safety net.
        Any other error ends the loop: run it under `store.supervise.supervise`, which logs
        the traceback and starts it again.
        """
        while not stop.is_set():
            busy = False
            try:
                report = await self.dispatch_due()
                busy = report.claimed >= self.batch_size
                await self._completed_pass()
            except DATABASE_OUTAGE as error:
                log.warning("outbox dispatch pass failed: %s", type(error).__name__)
            if busy:
                continue
            await _wait_for_either(stop, wake, poll_interval)

    async def _completed_pass(self) -> None:
        now = asyncio.get_running_loop().time()
        self.last_pass_at = now
        if self._last_beat is None or now - self._last_beat >= self.heartbeat_every_s:
            await beat(self.pool, DISPATCHER, self.instance)
            self._last_beat = now

    async def _claim(self, channels: list[str]) -> list[OutboxMessage]:
        now = self.clock()
        rows = await self.pool.fetch(
            """
            UPDATE notification_outbox o
            SET attempts = o.attempts + 1, next_attempt_at = $2
            FROM (
                SELECT message_id FROM notification_outbox
                WHERE status = 'pending' AND next_attempt_at <= $1 AND channel = ANY($3)
                ORDER BY (urgency = 'urgent') DESC, next_attempt_at
                LIMIT $4
                FOR UPDATE SKIP LOCKED
            ) due
            WHERE o.message_id = due.message_id
            RETURNING o.message_id, o.episode_id, o.program_id, o.channel, o.template,
                o.recipient_role, o.urgency, o.params, o.attempts
            """,
            now,
            now + self.retry.lease,
            channels,
            self.batch_size,
        )
        return [
            OutboxMessage(
                message_id=row["message_id"],
                episode_id=row["episode_id"],
                program_id=row["program_id"],
                channel=row["channel"],
                template=row["template"],
                recipient_role=row["recipient_role"],
                urgency=row["urgency"],
                params=json.loads(row["params"]),
                attempt=row["attempts"],
            )
            for row in rows
        ]

    async def _mark_sent(self, message: OutboxMessage) -> None:
        await self.pool.execute(
            """
            UPDATE notification_outbox SET status = 'sent', sent_at = $2, last_error = NULL
            WHERE message_id = $1 AND status = 'pending'
            """,
            message.message_id,
            self.clock(),
        )

    async def _reschedule(self, message: OutboxMessage, error: Exception) -> None:
        await self.pool.execute(
            """
            UPDATE notification_outbox SET next_attempt_at = $2, last_error = $3
            WHERE message_id = $1 AND status = 'pending'
            """,
            message.message_id,
            self.clock() + self.retry.delay(message.attempt),
            _describe(error),
        )
        log.info(
            "notification message_id=%s attempt %d failed; retrying",
            message.message_id,
            message.attempt,
        )

    async def _defer(self, message: OutboxMessage, held: DeferDelivery) -> None:
        await self.pool.execute(
            """
            UPDATE notification_outbox
            SET next_attempt_at = $2, attempts = greatest(attempts - 1, 0), last_error = $3
            WHERE message_id = $1 AND status = 'pending'
            """,
            message.message_id,
            held.until,
            f"held: {held}"[:500],
        )

    async def _mark_failed(self, message: OutboxMessage, error: Exception) -> None:
        """Give up on a message; an urgent one raises an alert to operators and supervisors."""
        status = "undeliverable" if isinstance(error, Undeliverable) else "failed"
        async with self.pool.acquire() as conn, conn.transaction():
            marked = await conn.execute(
                """
                UPDATE notification_outbox SET status = $3, last_error = $2
                WHERE message_id = $1 AND status = 'pending'
                """,
                message.message_id,
                _describe(error),
                status,
            )
            alert = message.urgency == "urgent" and message.template != UNDELIVERABLE_TEMPLATE
            route = self.alert_route(message.channel)
            if alert and marked.endswith(" 1"):
                await _queue_undeliverable_alert(conn, message, route)
        log.warning(
            "notification message_id=%s failed after %d attempts",
            message.message_id,
            message.attempt,
        )
        if alert and route != message.channel:
            log.error(
                "urgent notification message_id=%s undeliverable on route %s; operator and "
                "supervisor alerted through route %s",
                message.message_id,
                message.channel,
                route,
            )
        elif alert:
            log.critical(
                "urgent notification message_id=%s undeliverable and no other route to alert "
                "through (configure the alert route, CAREPATH_ALERT_EMAIL_TO); the alert is "
                "queued on the same route and listed for operators",
                message.message_id,
            )

    def alert_route(self, failed: str) -> str:
        """Where the alert about a message undeliverable on route `failed` goes."""
        return alert_route(self._routes(), failed)


# An urgent message that cannot be delivered is itself news: operators and the program's
# supervisors are told (content-free: which message and template, nothing about the patient).
UNDELIVERABLE_TEMPLATE = "urgent_message_undeliverable"
UNDELIVERABLE_RECIPIENTS = ("operator", "supervisor")
# The route for those alerts (e.g. email to the on-call address, store/channels/alerts.py),
# kept apart from the route that failed.
ALERT_CHANNEL = "alert"


def alert_route(routes: Mapping[str, Channel], failed: str) -> str:
    """The alert route, else the default one, whichever is served and is not the route that
    failed (the same route only when no other is served)."""
    for route in (ALERT_CHANNEL, DEFAULT_CHANNEL):
        if route in routes and route != failed:
            return route
    return failed


async def _queue_undeliverable_alert(conn: Conn, message: OutboxMessage, route: str) -> None:
    await conn.executemany(
        """
        INSERT INTO notification_outbox (message_id, episode_id, program_id, workflow_id, seq,
            channel, template, recipient_role, urgency, params)
        SELECT $1 || ':undeliverable:' || $2, episode_id, program_id, workflow_id, seq,
            $5, $3, $2, 'urgent', $4::jsonb
        FROM notification_outbox WHERE message_id = $1
        ON CONFLICT (message_id) DO NOTHING
        """,
        [
            (
                message.message_id,
                role,
                UNDELIVERABLE_TEMPLATE,
                json.dumps(
                    {
                        "message_id": message.message_id,
                        "template": message.template,
                        "failed_route": message.channel,
                    }
                ),
                route,
            )
            for role in UNDELIVERABLE_RECIPIENTS
        ],
    )


async def _wait_for_either(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Until `stop` or `wake` is set, or `seconds` pass; clears `wake` for the next pass."""
    waits = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waits.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        if wake is not None:
            wake.clear()


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:500]
