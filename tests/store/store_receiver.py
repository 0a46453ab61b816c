"""A small real webhook receiver on 127.0.0.1: verifies signatures, dedupes by message ID."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from store.webhook import MESSAGE_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

Scope = dict[str, Any]


@dataclass
class Receiver:
    secret: str
    fail_next: int = 0
    deliveries: list[str] = field(default_factory=list)
    processed: list[dict[str, Any]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _seen: set[str] = field(default_factory=set)
    _progress: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_processed(self, count: int) -> None:
        while len(self.processed) < count:
            await self._progress.wait()
            self._progress.clear()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                    self.ready.set()
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status = self._handle(headers, body)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def _handle(self, headers: dict[str, str], body: bytes) -> int:
        if not verify_signature(
            self.secret,
            timestamp=headers.get(TIMESTAMP_HEADER.lower(), ""),
            body=body,
            signature=headers.get(SIGNATURE_HEADER.lower(), ""),
        ):
            return 401
        message_id = headers[MESSAGE_ID_HEADER.lower()]
        self.deliveries.append(message_id)
        if self.fail_next > 0:
            self.fail_next -= 1
            return 503
        if message_id not in self._seen:  # the dedupe every receiver must do
            self._seen.add(message_id)
            self.processed.append(json.loads(body))
            self._progress.set()
        return 200


@asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[str]:
    """Serve `receiver` on a free loopback port; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(receiver, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await asyncio.wait_for(receiver.ready.wait(), timeout=10)
    try:
        yield f"http://127.0.0.1:{port}/hooks/carepath"
    finally:
        server.should_exit = True
        await task
        sock.close()
