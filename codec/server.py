"""Codec server: lets the Temporal Web UI and CLI show decrypted payloads to operators.

`POST /decode` and `POST /encode` take and return `{"payloads": [...]}` in protobuf JSON
(Temporal's remote codec shape). Every call needs an operator credential: a bearer token
(the CLI's `--codec-auth "Bearer <token>"`) or the session cookie set by `/login` (the Web UI,
with its codec setting "include cross-origin credentials" on). CORS admits only the
configured UI origin.

The cookie is `SameSite=Lax`: the UI (http://127.0.0.1:8233) and this server
(http://127.0.0.1:8081) differ only by port, which makes them same-site (cross-origin), so
Chromium sends a Lax cookie on the UI's credentialed fetch. Use the same host name for both
(127.0.0.1 and 127.0.0.1, not 127.0.0.1 and localhost), or they become cross-site.
"""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from codec.aes import EncryptionCodec, PayloadDecryptionError
from codec.keys import KeyRing, MissingKeyError
from codec.sessions import SESSION_COOKIE, OperatorTokens, SessionSigner
from codec.settings import CodecSettings

MAX_BODY_BYTES = 8 * 1024 * 1024
_UNAUTHORIZED = {"detail": "operator credential required: bearer token or /login session"}


def create_codec_app(
    keyring: KeyRing,
    settings: CodecSettings,
    *,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the codec server app for one key ring and its settings."""
    codec = EncryptionCodec(keyring)
    tokens = OperatorTokens(settings.operator_token_values())
    secret = (
        settings.codec_session_secret.get_secret_value().encode()
        if settings.codec_session_secret
        else secrets.token_bytes(32)
    )
    sessions = SessionSigner(secret, settings.codec_session_ttl_seconds, clock)
    ui_origin = settings.codec_ui_origin.rstrip("/")

    app = FastAPI(title="carepath codec server", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[ui_origin],
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Content-Type", "X-Namespace", "Authorization"],
        max_age=600,
    )

    def authorized(request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and tokens.accepts(token.strip()):
            return True
        return sessions.verify(request.cookies.get(SESSION_COOKIE))

    async def transform(request: Request, decode: bool) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") != ui_origin:
            return JSONResponse({"detail": "origin not allowed"}, status_code=403)
        if not authorized(request):
            return JSONResponse(_UNAUTHORIZED, status_code=401)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"detail": "request too large"}, status_code=413)
        payloads = Payloads()
        try:
            json_format.Parse(body or b"{}", payloads)
        except (json_format.ParseError, UnicodeDecodeError):
            return JSONResponse({"detail": "body must be {'payloads': [...]}"}, status_code=400)
        try:
            out = await (codec.decode if decode else codec.encode)(payloads.payloads)
        except (MissingKeyError, PayloadDecryptionError) as err:
            return JSONResponse({"detail": str(err)}, status_code=422)
        content = json_format.MessageToDict(Payloads(payloads=out))
        return JSONResponse(content, headers={"Cache-Control": "no-store"})

    @app.post("/decode")
    async def decode(request: Request) -> Response:
        return await transform(request, decode=True)

    @app.post("/encode")
    async def encode(request: Request) -> Response:
        return await transform(request, decode=False)

    @app.get("/login")
    async def login_page(request: Request) -> Response:
        signed_in = sessions.verify(request.cookies.get(SESSION_COOKIE))
        return HTMLResponse(_login_html(ui_origin, signed_in=signed_in, failed=False))

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        token = (form.get("token") or [""])[0].strip()
        if not tokens.accepts(token):
            page = _login_html(ui_origin, signed_in=False, failed=True)
            return HTMLResponse(page, status_code=401)
        response = RedirectResponse("/login", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            sessions.issue(),
            max_age=sessions.ttl_seconds,
            path="/",
            httponly=True,
            samesite="lax",
            secure=settings.codec_cookie_secure,
        )
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        sessions.revoke(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE,
            path="/",
            httponly=True,
            samesite="lax",
            secure=settings.codec_cookie_secure,
        )
        return response

    @app.get("/session")
    async def session(request: Request) -> Response:
        """204 for a signed-in operator, else 401: the proxy's check before the Web UI
        (deploy/caddy/Caddyfile, forward_auth)."""
        return Response(status_code=204 if authorized(request) else 401)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def build_codec_server(
    keyring: KeyRing,
    settings: CodecSettings,
    *,
    host: str | None = None,
    port: int | None = None,
) -> uvicorn.Server:
    """A uvicorn server for the codec app; set `should_exit = True` to stop it."""
    config = uvicorn.Config(
        create_codec_app(keyring, settings),
        host=host or settings.codec_host,
        port=port or settings.codec_port,
        log_level="warning",
        access_log=False,  # keep request lines out of logs; they carry nothing operators need
    )
    return uvicorn.Server(config)


async def serve_codec(
    keyring: KeyRing,
    settings: CodecSettings,
    *,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """Run the codec server until stopped (default http://127.0.0.1:8081)."""
    await build_codec_server(keyring, settings, host=host, port=port).serve()


def _login_html(ui_origin: str, *, signed_in: bool, failed: bool) -> str:
    origin = html.escape(ui_origin)
    if signed_in:
        body = (
            "<p><strong>Signed in.</strong> The Web UI can now decode payloads.</p>"
            f'<p>Back to the <a href="{origin}">Temporal Web UI</a>. In its codec settings, '
            "the endpoint must be this server and <em>Include cross-origin credentials</em> "
            "must be on.</p>"
            '<form method="post" action="/logout"><button type="submit">Sign out</button></form>'
        )
    else:
        error = '<p role="alert">That token was not accepted.</p>' if failed else ""
        body = (
            f"{error}"
            '<form method="post" action="/login">'
            '<label>Operator token <input type="password" name="token" autocomplete="off" '
            "autofocus required></label> "
            '<button type="submit">Sign in</button></form>'
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>carepath codec server</title></head>"
        f"<body><h1>carepath codec server</h1>{body}</body></html>"
    )
