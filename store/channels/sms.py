"""SMS to patients through a gateway speaking Twilio's Messages API.

`POST {CAREPATH_SMS_URL}/2010-04-01/Accounts/{account}/Messages.json` with basic auth
(account, token), form fields To, From, Body and StatusCallback. The gateway's MessageSid
is kept (`sms_deliveries`) before the row is marked sent, so a delivery-status callback
finds its message and a retry after a crash does not send the text twice.

Error answers (Twilio codes): 21610 the recipient replied STOP to the gateway (their SMS
consent is withdrawn here too; undeliverable), 21211 / 21614 not a valid mobile number
(undeliverable), 429 rate limited and 5xx retried, any other 4xx permanent.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx

from store.channels.contacts import PostgresContacts
from store.channels.messages import sms_text
from store.dbtypes import Db
from store.outbox import DeliveryError, OutboxMessage, PermanentDeliveryError, Undeliverable

log = logging.getLogger(__name__)

UNSUBSCRIBED = 21610
UNREACHABLE_NUMBERS = frozenset({21211, 21214, 21614})
STATUS_CALLBACK_PATH = "/v1/channels/sms/status"
INBOUND_PATH = "/v1/channels/sms/inbound"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class SmsSender:
    def __init__(
        self,
        db: Db,
        *,
        base_url: str,
        account: str,
        token: str,
        from_number: str,
        public_url: str | None,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
            raise ValueError("SMS gateway URL must use https (plain http only to a loopback host)")
        if not account or not token or not from_number:
            raise ValueError("SMS gateway needs an account, a token and a From number")
        self._db = db
        self._contacts = PostgresContacts(db)
        self._endpoint = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account}/Messages.json"
        self._auth = (account, token)
        self._from = from_number
        self._callback = f"{public_url.rstrip('/')}{STATUS_CALLBACK_PATH}" if public_url else None
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def send(self, message: OutboxMessage, address: str, link: str | None = None) -> None:
        already = await self._db.fetchval(
            "SELECT provider_id FROM sms_deliveries WHERE message_id = $1", message.message_id
        )
        if already is not None:
            return  # accepted on an earlier attempt that died before marking the row
        form = {"To": address, "From": self._from, "Body": sms_text(link)}
        if self._callback:
            form["StatusCallback"] = self._callback
        try:
            response = await self._client.post(self._endpoint, data=form, auth=self._auth)
        except httpx.HTTPError as error:
            raise DeliveryError(type(error).__name__) from error
        if response.is_success:
            sid = _json(response).get("sid")
            if not isinstance(sid, str) or not sid:
                raise DeliveryError("gateway accepted without a message sid")
            await self._db.execute(
                "INSERT INTO sms_deliveries (provider_id, message_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                sid,
                message.message_id,
            )
            return
        await self._refused(response, address)

    async def _refused(self, response: httpx.Response, address: str) -> None:
        status = response.status_code
        code = _json(response).get("code")
        if code == UNSUBSCRIBED:
            await self._contacts.set_consent_by_phone(
                address, consented=False, keyword="GATEWAY-UNSUBSCRIBED"
            )
            raise Undeliverable(f"gateway {UNSUBSCRIBED}: recipient unsubscribed")
        if code in UNREACHABLE_NUMBERS:
            raise Undeliverable(f"gateway {code}: not a reachable mobile number")
        if status == 429 or status >= 500:
            raise DeliveryError(f"gateway HTTP {status} code {code}")
        raise PermanentDeliveryError(f"gateway HTTP {status} code {code}")

    async def aclose(self) -> None:
        await self._client.aclose()


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
