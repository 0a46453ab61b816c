"""Codec server: credentials, CORS for the UI origin only, cookie login, encode/decode."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from codec.keys import KeyRing
from codec.server import create_codec_app
from codec.sessions import SESSION_COOKIE
from codec.settings import CodecSettings

UI = "http://127.0.0.1:8233"
TOKEN = "operator-token-for-tests"
PLAIN = {
    "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
    "data": base64.b64encode(b'"Zyxwvut Qqqpatient"').decode(),
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    settings = CodecSettings(
        operator_tokens=SecretStr(f"{TOKEN},second-token"),
        codec_ui_origin=UI,
        codec_session_ttl_seconds=3600,
    )
    app = create_codec_app(KeyRing.generate("k1"), settings, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8081") as c:
        yield c


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_credential_is_401(client: httpx.AsyncClient) -> None:
    for path in ("/encode", "/decode"):
        response = await client.post(path, json={"payloads": [PLAIN]})
        assert response.status_code == 401
    wrong = await client.post("/decode", json={"payloads": []}, headers=bearer("nope"))
    assert wrong.status_code == 401


async def test_bearer_token_encodes_then_decodes(client: httpx.AsyncClient) -> None:
    encoded = await client.post("/encode", json={"payloads": [PLAIN]}, headers=bearer())
    assert encoded.status_code == 200
    [enc] = encoded.json()["payloads"]
    assert base64.b64decode(enc["metadata"]["encoding"]) == b"binary/encrypted"
    assert base64.b64decode(enc["metadata"]["encryption-key-id"]) == b"k1"
    assert b"Qqqpatient" not in base64.b64decode(enc["data"])

    decoded = await client.post("/decode", json={"payloads": [enc]}, headers=bearer("second-token"))
    assert decoded.status_code == 200
    assert decoded.json() == {"payloads": [PLAIN]}
    assert decoded.headers["cache-control"] == "no-store"


async def test_decode_with_unknown_key_names_it(client: httpx.AsyncClient) -> None:
    foreign = {
        "metadata": {
            "encoding": base64.b64encode(b"binary/encrypted").decode(),
            "encryption-key-id": base64.b64encode(b"kid-gone").decode(),
        },
        "data": base64.b64encode(b"\0" * 40).decode(),
    }
    response = await client.post("/decode", json={"payloads": [foreign]}, headers=bearer())
    assert response.status_code == 422
    assert "kid-gone" in response.json()["detail"]


async def test_cors_preflight_only_for_ui_origin(client: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    ok = await client.options("/decode", headers={"Origin": UI, **preflight})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == UI
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert "x-namespace" in ok.headers["access-control-allow-headers"].lower()

    evil = await client.options("/decode", headers={"Origin": "http://evil.test", **preflight})
    assert evil.status_code == 400
    assert "access-control-allow-origin" not in evil.headers


async def test_other_origin_is_refused_even_with_a_credential(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/decode", json={"payloads": []}, headers={"Origin": "http://127.0.0.1:9999", **bearer()}
    )
    assert response.status_code == 403


async def test_cookie_login_lets_the_ui_decode_until_logout(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.text

    bad = await client.post("/login", data={"token": "wrong"})
    assert bad.status_code == 401
    assert SESSION_COOKIE not in client.cookies

    good = await client.post("/login", data={"token": TOKEN})
    assert good.status_code == 303
    set_cookie = good.headers["set-cookie"].lower()
    assert (
        "httponly" in set_cookie and "samesite=lax" in set_cookie and "max-age=3600" in set_cookie
    )
    assert "Signed in" in (await client.get("/login")).text

    ui_call = await client.post("/encode", json={"payloads": [PLAIN]}, headers={"Origin": UI})
    assert ui_call.status_code == 200
    assert ui_call.headers["access-control-allow-origin"] == UI
    assert ui_call.headers["access-control-allow-credentials"] == "true"

    cookie = client.cookies[SESSION_COOKIE]
    await client.post("/logout")
    assert SESSION_COOKIE not in client.cookies
    # the signed-out cookie is revoked even if someone kept a copy
    replay = await client.post(
        "/encode", json={"payloads": []}, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}
    )
    assert replay.status_code == 401


async def test_session_expires(client: httpx.AsyncClient, clock: Clock) -> None:
    await client.post("/login", data={"token": TOKEN})
    assert (await client.post("/encode", json={"payloads": []})).status_code == 200
    clock.now += 3601
    assert (await client.post("/encode", json={"payloads": []})).status_code == 401


async def test_forged_cookie_is_rejected(client: httpx.AsyncClient) -> None:
    forged = "v1.9999999999.abc.c2lnbmF0dXJl"
    response = await client.post(
        "/decode", json={"payloads": []}, headers={"Cookie": f"{SESSION_COOKIE}={forged}"}
    )
    assert response.status_code == 401


async def test_malformed_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/decode", content=b"[1,2]", headers=bearer())
    assert response.status_code == 400
