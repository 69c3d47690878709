"""Mapping what comes back (or does not) to ``LavaError``s, against a fake Lava on loopback that
answers with each status and body shape Lava is known to use, and with failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.billing import (
    AsyncLavaClient,
    LavaAuthError,
    LavaConfigError,
    LavaConnectionError,
    LavaError,
    LavaNotFound,
    LavaPaymentRequired,
    LavaProtocolError,
    LavaRateLimited,
    LavaServerError,
    LavaTimeout,
    LavaValidationError,
)
from proxy.billing.core import MAX_RESPONSE_BYTES, settings
from proxy.errors import SidecarError

KEY = "aks_test_fake0123456789abcdef"
#: path → (status, content type, body)
ANSWERS: dict[str, tuple[int, str, bytes]] = {
    "/v1/meters/string-error": (402, "application/json", b'{"error":"Insufficient Balance"}'),
    "/v1/meters/object-error": (400, "application/json",
                                b'{"error":{"message":"name is required","code":"missing"}}'),
    "/v1/meters/forbidden": (403, "application/json", b'{"error":{"message":"nope"}}'),
    "/v1/meters/gone": (404, "text/plain", b"404: Not Found"),
    "/v1/meters/slow-down": (429, "application/json", b'{"message":"rate limited"}'),
    "/v1/meters/broken": (502, "text/html", b""),
    "/v1/meters/not-json": (200, "text/html", b"<html>hello</html>"),
    "/v1/meters/wrong-shape": (200, "application/json", b'{"meter_id": 5}'),
}


@pytest.fixture
async def fake() -> AsyncIterator[TestServer]:
    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path == "/v1/meters/sleepy":
            await asyncio.sleep(5)
        if request.path == "/v1/meters/huge":
            resp = web.StreamResponse()
            await resp.prepare(request)
            chunk = b"x" * 65536
            for _ in range(MAX_RESPONSE_BYTES // len(chunk) + 2):
                await resp.write(chunk)
            return resp
        status, ctype, body = ANSWERS[request.path]
        return web.Response(status=status, body=body, content_type=ctype)

    app = web.Application()
    app.router.add_get("/v1/meters/{name}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.mark.parametrize(("path", "cls", "status", "code", "message"), [
    ("string-error", LavaPaymentRequired, 402, "insufficient_balance", "Insufficient Balance"),
    ("object-error", LavaValidationError, 400, "missing", "name is required"),
    ("forbidden", LavaAuthError, 403, "unauthorized", "nope"),
    ("gone", LavaNotFound, 404, "not_found", "404: Not Found"),
    ("slow-down", LavaRateLimited, 429, "rate_limited", "rate limited"),
    ("broken", LavaServerError, 502, "server_error", "Lava answered HTTP 502"),
])
async def test_error_answers(fake: TestServer, path: str, cls: type[LavaError], status: int,
                             code: str, message: str) -> None:
    async with AsyncLavaClient(base_url=str(fake.make_url("")), secret_key=KEY) as lava:
        with pytest.raises(cls) as exc:
            await lava.meters.get(path)
    assert isinstance(exc.value, SidecarError)
    assert (exc.value.status, exc.value.code, exc.value.message) == (status, code, message)


@pytest.mark.parametrize("path", ["not-json", "wrong-shape", "huge"])
async def test_answers_that_are_not_lavas_json(fake: TestServer, path: str) -> None:
    async with AsyncLavaClient(base_url=str(fake.make_url("")), secret_key=KEY) as lava:
        with pytest.raises(LavaProtocolError):
            await lava.meters.get(path)


async def test_a_timeout(fake: TestServer) -> None:
    async with AsyncLavaClient(base_url=str(fake.make_url("")), secret_key=KEY,
                               timeout=0.2) as lava:
        with pytest.raises(LavaTimeout) as exc:
            await lava.meters.get("sleepy")
    assert isinstance(exc.value, LavaConnectionError)
    assert KEY not in str(exc.value)


async def test_nothing_listening(unused_tcp_port: int) -> None:
    async with AsyncLavaClient(base_url=f"http://127.0.0.1:{unused_tcp_port}",
                               secret_key=KEY) as lava:
        with pytest.raises(LavaConnectionError) as exc:
            await lava.meters.list()
    assert exc.value.status == 0
    assert "GET /meters" in str(exc.value)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAVA_GATEWAY_URL", raising=False)
    monkeypatch.setenv("LAVA_SECRET_KEY", KEY)
    s = settings()
    assert s.base_url == "https://api.lava.so"
    assert s.api_root == "https://api.lava.so/v1"
    assert s.secret_key.reveal() == KEY
    assert KEY not in repr(s)
    monkeypatch.setenv("LAVA_GATEWAY_URL", "http://127.0.0.1:8790/v1/")
    assert settings().api_root == "http://127.0.0.1:8790/v1"
    assert settings(base_url="https://sandbox.example").base_url == "https://sandbox.example"
    monkeypatch.delenv("LAVA_SECRET_KEY")
    with pytest.raises(LavaConfigError):
        settings()
    with pytest.raises(LavaConfigError):
        settings(base_url="ftp://x", secret_key=KEY)
