"""ClearinghousePayer against a real HTTP server on 127.0.0.1 playing the clearinghouse."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from activities.payer_clearinghouse import (
    ClearinghousePayer,
    PayerDataError,
    PayerUnavailableError,
)
from activities.ports import PayerPort
from activities.x12 import Submitter, read_separators, split_segments
from rules.levels import LevelOfCare
from schemas.payer import (
    AuthorizationRequest,
    AuthRequirement,
    EligibilityRequest,
    PayerRequestKind,
    PayerStatus,
)

NOW = datetime(2025, 5, 6, 13, 45, tzinfo=UTC)
API_KEY = "test-key-not-a-secret"
MEMBER = "QK5544332211"  # synthetic
ELIGIBILITY = EligibilityRequest(
    request_id="care-episode-0b7d-3", payer_id="60054", member_id=MEMBER, service_types=["MH"]
)
AUTHORIZATION = AuthorizationRequest(
    request_id="care-episode-0b7d-4",
    kind=PayerRequestKind.INITIAL,
    payer_id="60054",
    member_id=MEMBER,
    level=LevelOfCare.IOP,
    units_requested=20,
    expedited=True,
    disclosure_consented=True,
)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes | Callable[[Received], bytes] = b""
    content_type: str = "application/json"
    delay_s: float = 0.0


@dataclass
class FakeClearinghouse:
    """Scripted replies per path; every request it receives is kept for assertions."""

    base_url: str = ""
    replies: dict[str, Reply] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def handle(self, received: Received) -> Reply:
        self.received.append(received)
        return self.replies.get(received.path, Reply(404, b'{"code": "no_route"}'))


def _handler_for(fake: FakeClearinghouse) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received = Received(
                self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
            )
            reply = fake.handle(received)
            time.sleep(reply.delay_s)
            body = reply.body(received) if callable(reply.body) else reply.body
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def server() -> Iterator[FakeClearinghouse]:
    fake = FakeClearinghouse()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    fake.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1/"
    yield fake
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def clearinghouse(server: FakeClearinghouse) -> FakeClearinghouse:
    server.replies.clear()
    server.received.clear()
    return server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0), trust_env=False) as client:
        yield client


def payer(base_url: str, http: httpx.AsyncClient) -> ClearinghousePayer:
    return ClearinghousePayer(base_url, API_KEY, http, submitter=Submitter(), clock=lambda: NOW)


def answer_271(*benefits: str, trace: str | None = None) -> Callable[[Received], bytes]:
    """A 271 that echoes the inquiry's TRN, as a clearinghouse would."""

    def build(received: Received) -> bytes:
        text = received.body.decode()
        segments = split_segments(text, read_separators(text))
        echoed = trace or next(s[2] for s in segments if s[0] == "TRN")
        body = [
            "ST*271*0001*005010X279A1",
            f"BHT*0022*11*{echoed}*20250506*1346",
            "HL*1**20*1",
            "NM1*PR*2*SYNTHETIC HEALTH PLAN*****PI*60054",
            "HL*2*1*22*0",
            f"TRN*2*{echoed}*9000000000",
            f"NM1*IL*1*DOE*JANE****MI*{MEMBER}",
            *benefits,
        ]
        body.append(f"SE*{len(body) + 1}*0001")
        isa = (
            "ISA*00*          *00*          *ZZ*CLEARINGHOUSE  *ZZ*CAREPATH       "
            "*250506*1346*^*00501*000000077*0*T*:"
        )
        segments_out = [isa, "GS*HB*CLEARINGHOUSE*CAREPATH*20250506*1346*77*X*005010X279A1"]
        segments_out += [*body, "GE*1*77", "IEA*1*000000077"]
        return ("~\n".join(segments_out) + "~\n").encode()

    return build


def test_the_adapter_is_a_payer_port(http: httpx.AsyncClient) -> None:
    port: PayerPort = payer("http://127.0.0.1:1", http)
    assert callable(port.check_eligibility) and callable(port.request_authorization)


# --- eligibility ------------------------------------------------------------------------


async def test_eligibility_posts_a_270_and_reads_the_271(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient
) -> None:
    clearinghouse.replies["/v1/eligibility"] = Reply(
        body=answer_271("EB*1*IND*MH", "EB*B*IND*MH*HM**27*30", "EB*1*IND*MH********N"),
        content_type="application/edi-x12",
    )
    result = await payer(clearinghouse.base_url, http).check_eligibility(ELIGIBILITY)

    assert result.active is True
    assert result.copay == 30.0
    assert result.authorization is AuthRequirement.NOT_REQUIRED
    assert result.checked_at == NOW
    (sent,) = clearinghouse.received
    assert sent.path == "/v1/eligibility"
    assert sent.headers["content-type"] == "application/edi-x12"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["idempotency-key"] == ELIGIBILITY.request_id
    text = sent.body.decode()
    segments = split_segments(text, read_separators(text))
    assert ["ST", "270", "0001", "005010X279A1"] in segments
    assert ["NM1", "IL", "1", "", "", "", "", "", "MI", MEMBER] in segments
    assert ["EQ", "MH"] in segments


async def test_eligibility_authorization_flag_reaches_the_result(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient
) -> None:
    clearinghouse.replies["/v1/eligibility"] = Reply(
        body=answer_271("EB*1*IND*MH********Y"), content_type="application/edi-x12"
    )
    result = await payer(clearinghouse.base_url, http).check_eligibility(ELIGIBILITY)
    assert result.authorization is AuthRequirement.REQUIRED


async def test_eligibility_inactive(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient
) -> None:
    clearinghouse.replies["/v1/eligibility"] = Reply(body=answer_271("EB*6*IND*30"))
    result = await payer(clearinghouse.base_url, http).check_eligibility(ELIGIBILITY)
    assert result.active is False


async def test_unknown_member_in_the_271_is_a_data_error(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient
) -> None:
    clearinghouse.replies["/v1/eligibility"] = Reply(body=answer_271("AAA*N**75*C"))
    with pytest.raises(PayerDataError, match="AAA03 75"):
        await payer(clearinghouse.base_url, http).check_eligibility(ELIGIBILITY)


async def test_a_271_for_another_inquiry_is_refused(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient
) -> None:
    clearinghouse.replies["/v1/eligibility"] = Reply(
        body=answer_271("EB*1*IND*MH", trace="NOT-OUR-TRACE")
    )
    with pytest.raises(ValueError, match="TRN"):
        await payer(clearinghouse.base_url, http).check_eligibility(ELIGIBILITY)


async def test_nothing_identifying_is_logged(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = payer(clearinghouse.base_url, http)
    clearinghouse.replies["/v1/eligibility"] = Reply(body=answer_271("EB*1*IND*MH"))
    await adapter.check_eligibility(ELIGIBILITY)
    clearinghouse.replies["/v1/eligibility"] = Reply(422, json.dumps({"member": MEMBER}).encode())
    with pytest.raises(PayerDataError):
        await adapter.check_eligibility(ELIGIBILITY)
    assert caplog.records  # the adapter does log; it just says nothing about the patient
    assert MEMBER not in caplog.text


# --- authorization ----------------------------------------------------------------------


async def test_authorization_posts_json_with_the_idempotency_key(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient
) -> None:
    clearinghouse.replies["/v1/authorizations"] = Reply(
        body=json.dumps(
            {
                "reference": "CH-REF-1",
                "status": "approved",
                "units": 12,
                "start_date": "2025-05-07",
                "end_date": "2025-06-06",
                "authorization_number": "AUTH-778",
                "payer_trace": "ignored-extra-field",
            }
        ).encode()
    )
    answer = await payer(clearinghouse.base_url, http).request_authorization(AUTHORIZATION)

    assert answer.status is PayerStatus.APPROVED
    assert answer.units == 12
    assert (answer.start_date, answer.end_date) == (date(2025, 5, 7), date(2025, 6, 6))
    assert answer.authorization_number == "AUTH-778"
    (sent,) = clearinghouse.received
    assert sent.path == "/v1/authorizations"
    assert sent.headers["idempotency-key"] == AUTHORIZATION.request_id
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    body = json.loads(sent.body)
    assert body["level"] == "iop"
    assert body["units_requested"] == 20
    assert body["expedited"] is True
    assert body["member_id"] == MEMBER


async def test_a_retry_sends_the_same_idempotency_key(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient
) -> None:
    clearinghouse.replies["/v1/authorizations"] = Reply(
        body=b'{"reference": "CH-REF-2", "status": "pending"}'
    )
    adapter = payer(clearinghouse.base_url, http)
    first = await adapter.request_authorization(AUTHORIZATION)
    second = await adapter.request_authorization(AUTHORIZATION)
    assert first == second
    assert first.status is PayerStatus.PENDING
    keys = {r.headers["idempotency-key"] for r in clearinghouse.received}
    assert keys == {AUTHORIZATION.request_id}


async def test_a_denial_carries_its_reason(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient
) -> None:
    clearinghouse.replies["/v1/authorizations"] = Reply(
        body=b'{"reference": "R3", "status": "denied", "reason": "medical_necessity"}'
    )
    answer = await payer(clearinghouse.base_url, http).request_authorization(AUTHORIZATION)
    assert answer.status is PayerStatus.DENIED
    assert answer.reason == "medical_necessity"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"reference": "R4", "status": "maybe"}', b'{"status": "approved"}'],
)
async def test_a_malformed_authorization_answer_is_a_value_error(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient, body: bytes
) -> None:
    clearinghouse.replies["/v1/authorizations"] = Reply(body=body)
    with pytest.raises(ValueError) as raised:
        await payer(clearinghouse.base_url, http).request_authorization(AUTHORIZATION)
    assert not isinstance(raised.value, PayerDataError)


# --- errors, sorted for the retry policy -----------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_4xx_data_problems_are_payer_data_errors(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient, status: int
) -> None:
    clearinghouse.replies["/v1/authorizations"] = Reply(
        status, json.dumps({"error": {"code": "member_invalid", "message": MEMBER}}).encode()
    )
    with pytest.raises(PayerDataError) as raised:
        await payer(clearinghouse.base_url, http).request_authorization(AUTHORIZATION)
    message = str(raised.value)
    assert f"HTTP {status}" in message
    assert "member_invalid" in message
    assert MEMBER not in message


async def test_free_text_error_codes_are_not_echoed(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient
) -> None:
    clearinghouse.replies["/v1/authorizations"] = Reply(
        400, json.dumps({"code": f"member {MEMBER} unknown"}).encode()
    )
    with pytest.raises(PayerDataError) as raised:
        await payer(clearinghouse.base_url, http).request_authorization(AUTHORIZATION)
    assert MEMBER not in str(raised.value)


@pytest.mark.parametrize("status", [500, 502, 503, 429, 401])
async def test_5xx_and_transient_4xx_are_retryable(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient, status: int
) -> None:
    clearinghouse.replies["/v1/eligibility"] = Reply(status, b"busy", content_type="text/plain")
    with pytest.raises(PayerUnavailableError) as raised:
        await payer(clearinghouse.base_url, http).check_eligibility(ELIGIBILITY)
    assert not isinstance(raised.value, ValueError)  # Temporal may retry it


async def test_payer_busy_in_the_271_is_retryable(
    clearinghouse: FakeClearinghouse, http: httpx.AsyncClient
) -> None:
    clearinghouse.replies["/v1/eligibility"] = Reply(body=answer_271("AAA*Y**42*R"))
    with pytest.raises(PayerUnavailableError):
        await payer(clearinghouse.base_url, http).check_eligibility(ELIGIBILITY)


async def test_a_timeout_is_retryable(clearinghouse: FakeClearinghouse) -> None:
    clearinghouse.replies["/v1/authorizations"] = Reply(body=b"{}", delay_s=0.5)
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.1), trust_env=False) as impatient:
        with pytest.raises(PayerUnavailableError, match="timed out"):
            await payer(clearinghouse.base_url, impatient).request_authorization(AUTHORIZATION)


async def test_an_unreachable_clearinghouse_is_retryable(http: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(PayerUnavailableError, match="unreachable"):
        await payer(f"http://127.0.0.1:{closed_port}", http).check_eligibility(ELIGIBILITY)
