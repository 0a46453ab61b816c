"""A local HTTP server that behaves like Twilio's Messages API, over a real socket.

It checks basic auth and the account in the path, answers 201 with a MessageSid, and gives
Twilio's error answers for the numbers below (unsubscribed 21610, invalid 21211) and a 429
when told to. `report` and `reply` then call back like the gateway does: a form POST
signed with `X-Twilio-Signature` over the URL it calls.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from store.channels.twilio_signature import SIGNATURE_HEADER, compute_signature

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "gateway-auth-token"
FROM = "+15005550006"
UNSUBSCRIBED_NUMBER = "+15005550010"
INVALID_NUMBER = "+15005550001"


@dataclass
class SentSms:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None


@dataclass
class Gateway:
    account: str = ACCOUNT
    token: str = TOKEN
    rate_limit_next: int = 0
    sent: list[SentSms] = field(default_factory=list)
    requests: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/2010-04-01/Accounts/{account}/Messages.json")
        async def create(account: str, request: Request) -> JSONResponse:
            self.requests += 1
            expected = base64.b64encode(f"{self.account}:{self.token}".encode()).decode()
            if account != self.account or request.headers.get("authorization") != (
                f"Basic {expected}"
            ):
                return _error(401, 20003, "Authenticate")
            form = await request.form()
            to = str(form.get("To", ""))
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return _error(429, 20429, "Too Many Requests")
            if to == UNSUBSCRIBED_NUMBER:
                return _error(400, 21610, "Attempt to send to unsubscribed recipient")
            if to == INVALID_NUMBER or not to.startswith("+"):
                return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            sid = "SM" + uuid.uuid4().hex
            callback = form.get("StatusCallback")
            self.sent.append(
                SentSms(
                    sid=sid,
                    to=to,
                    from_=str(form.get("From", "")),
                    body=str(form.get("Body", "")),
                    status_callback=str(callback) if callback else None,
                )
            )
            return JSONResponse(
                {"sid": sid, "status": "queued", "to": to, "account_sid": account},
                status_code=201,
            )

        return app

    async def report(
        self,
        client: httpx.AsyncClient,
        sms: SentSms,
        status: str,
        *,
        error_code: str | None = None,
        token: str | None = None,
    ) -> httpx.Response:
        """The delivery-status callback for `sms`, to its StatusCallback URL."""
        assert sms.status_callback is not None
        form = {
            "MessageSid": sms.sid,
            "SmsSid": sms.sid,
            "AccountSid": self.account,
            "MessageStatus": status,
            "To": sms.to,
            "From": sms.from_,
        }
        if error_code is not None:
            form["ErrorCode"] = error_code
        return await self._signed_post(client, sms.status_callback, form, token)

    async def reply(
        self,
        client: httpx.AsyncClient,
        url: str,
        from_: str,
        body: str,
        *,
        token: str | None = None,
    ) -> httpx.Response:
        """A patient's text to our number, forwarded to the inbound URL."""
        form = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": self.account,
            "From": from_,
            "To": FROM,
            "Body": body,
        }
        return await self._signed_post(client, url, form, token)

    async def _signed_post(
        self, client: httpx.AsyncClient, url: str, form: dict[str, str], token: str | None
    ) -> httpx.Response:
        signature = compute_signature(token or self.token, url, form.items())
        return await client.post(url, data=form, headers={SIGNATURE_HEADER: signature})


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "more_info": "", "status": status},
        status_code=status,
    )


@asynccontextmanager
async def serving(gateway: Gateway) -> AsyncIterator[str]:
    """Serve the gateway on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(gateway.app(), log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
