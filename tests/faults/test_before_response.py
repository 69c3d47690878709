"""Upstream failures before any response: refused, DNS, a hanging connect, a reset, a stall.

Each: the client gets a 502/504 in its API's shape with a stable code, the failure is counted by
reason, the request is recorded exactly once for the right customer, only connection
establishment is retried (bounded, counted), and the sidecar goes on serving.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from .harness import (
    CHAT,
    CUSTOMER,
    MESSAGES,
    OPENAI_CHAT,
    Sidecar,
    call,
    fault_stack,
    only,
    running_sidecar,
    who,
)
from .rawgateways import DNS_FAILS, closed_port_url, connect_hangs, silent_gateway

pytestmark = pytest.mark.timeout(60)


def assert_error_shape(path: str, doc: Any, status: int, code: str) -> None:
    if path.startswith("/anthropic"):
        assert doc["type"] == "error"
        assert doc["error"]["code"] == code
        assert doc["error"]["type"] == "api_error"
        assert doc["error"]["message"]
    else:
        assert doc["error"]["code"] == code
        assert doc["error"]["type"] == "server_error"
        assert doc["error"]["message"]


async def still_serving(side: Sidecar) -> None:
    """The process keeps serving: probes answer and a refused request is still answered properly."""
    async with aiohttp.ClientSession() as http:
        async with http.get(side.admin_url + "/healthz") as r:
            assert r.status == 200
        async with http.post(side.url + "/no-such-route", data=b"{}", headers=who()) as r:
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "route_not_found"


@pytest.mark.parametrize("path", [CHAT, OPENAI_CHAT, MESSAGES])
async def test_connection_refused(tmp_path: Path, client_kind: str, path: str) -> None:
    async with running_sidecar(tmp_path, closed_port_url(), client=client_kind) as side:
        reply = await call(side.url, path, stream=True)
        assert reply.status == 502
        assert reply.headers["x-lava-sidecar-error"] == "gateway_unreachable"
        assert_error_shape(path, reply.json(), 502, "gateway_unreachable")
        assert "not sent" in reply.json()["error"]["message"]
        await side.settled()
        assert side.sample("lava_sidecar_upstream_errors_total", reason="connect") == 1
        # Connection establishment is retried, to the configured bound, and counted.
        assert side.sample("lava_sidecar_connect_retries_total") == side.settings.gateway.connect_retries
        await still_serving(side)
    rec = only(side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert (rec["customer"], rec["meter"], rec["status"]) == (CUSTOMER, "chat-tokens", 502)
    assert (rec["outcome"], rec["upstream_error"], rec["error_code"]) == \
        ("upstream_error", "connect", "gateway_unreachable")
    assert rec["partial"] is False
    assert rec["source"] == "missing"


async def test_dns_failure(tmp_path: Path, client_kind: str) -> None:
    async with running_sidecar(tmp_path, DNS_FAILS, client=client_kind) as side:
        reply = await call(side.url, CHAT)
        assert reply.status == 502
        assert_error_shape(CHAT, reply.json(), 502, "gateway_unreachable")
        assert "DNS" in reply.json()["error"]["message"]
        await side.settled()
        assert side.sample("lava_sidecar_upstream_errors_total", reason="dns") == 1
        await still_serving(side)
    rec = only(side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert (rec["customer"], rec["outcome"], rec["upstream_error"]) == (CUSTOMER, "upstream_error", "dns")


async def test_connect_that_never_completes_times_out(tmp_path: Path, client_kind: str) -> None:
    async with connect_hangs() as url, \
            running_sidecar(tmp_path, url, client=client_kind,
                            gateway={"connect_timeout": 0.3, "connect_retries": 1}) as side:
        reply = await call(side.url, MESSAGES)
        assert reply.status == 504
        assert_error_shape(MESSAGES, reply.json(), 504, "gateway_timeout")
        await side.settled()
        assert side.sample("lava_sidecar_upstream_errors_total", reason="timeout_connect") == 1
        assert side.sample("lava_sidecar_connect_retries_total") == 1
    rec = only(side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert (rec["outcome"], rec["upstream_error"], rec["status"]) == ("timeout", "timeout_connect", 504)
    assert rec["partial"] is False  # never sent


async def test_one_shot_body_is_never_retried(tmp_path: Path, client_kind: str) -> None:
    """A streamed upload cannot be replayed, so even a refused connection is not retried."""

    async def upload():  # type: ignore[no-untyped-def]
        for _ in range(4):
            yield b"x" * 1024

    async with running_sidecar(tmp_path, closed_port_url(), client=client_kind) as side, \
            aiohttp.ClientSession() as http, \
            http.post(side.url + "/v1/audio/transcriptions", data=upload(),
                      headers={**who(), "Content-Type": "application/octet-stream"}) as resp:
        assert resp.status == 502
        await side.settled()
        assert side.sample("lava_sidecar_connect_retries_total") == 0
        assert side.sample("lava_sidecar_upstream_errors_total", reason="connect") == 1


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_reset_before_response_is_not_replayed(tmp_path: Path, client_kind: str, path: str) -> None:
    async with fault_stack(tmp_path, client_kind) as s:
        reply = await call(s.side.url, path, stream=True, fault="reset-before-headers")
        assert reply.status == 502
        assert_error_shape(path, reply.json(), 502, "gateway_unreachable")
        await s.side.settled()
        # The request reached Lava once; it may have been billed, so it is never sent again.
        assert len(s.gw.seen) == 1
        assert s.side.sample("lava_sidecar_upstream_errors_total", reason="reset") == 1
        assert s.side.sample("lava_sidecar_connect_retries_total") == 0
        ok = await call(s.side.url, path)
        assert ok.status == 200
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert (rec["customer"], rec["outcome"], rec["upstream_error"]) == (CUSTOMER, "upstream_error", "reset")
    assert rec["lava_request_id"] is None
    assert rec["partial"] is True  # it reached Lava: what it cost is unknown here


async def test_stall_before_first_byte(tmp_path: Path, client_kind: str) -> None:
    async with fault_stack(tmp_path, client_kind, gateway={"first_byte_timeout": 0.5}) as s:
        reply = await call(s.side.url, MESSAGES, stream=True, fault="stall-before-headers=30")
        assert reply.status == 504
        assert_error_shape(MESSAGES, reply.json(), 504, "gateway_timeout")
        await s.side.settled()
        assert len(s.gw.seen) == 1
        assert s.side.sample("lava_sidecar_upstream_errors_total", reason="timeout_first_byte") == 1
        assert (await call(s.side.url, MESSAGES)).status == 200
    rec = only(s.side.records(), request_id=reply.headers["x-lava-sidecar-request-id"])
    assert (rec["outcome"], rec["upstream_error"], rec["status"]) == ("timeout", "timeout_first_byte", 504)
    assert rec["partial"] is True


async def test_first_byte_timeout_releases_the_connection(tmp_path: Path, client_kind: str) -> None:
    """A gateway that accepts and never answers: the sidecar gives up and closes its connection
    (a half-used connection must never go back to the pool)."""
    async with silent_gateway() as gw, \
            running_sidecar(tmp_path, gw.url, client=client_kind,
                            gateway={"first_byte_timeout": 0.4}) as side:
        replies = [await call(side.url, CHAT) for _ in range(3)]
        assert [r.status for r in replies] == [504, 504, 504]
        await side.settled()
        async with asyncio.timeout(5):
            while gw.closed_by_client < 3:
                await gw.closed.wait()
                gw.closed.clear()
        assert gw.requests == 3
        assert gw.server is not None
        assert gw.server.connections == 3


@pytest.mark.parametrize(("sdk", "code"), [("openai", "gateway_unreachable"),
                                           ("anthropic", "gateway_unreachable")])
async def test_sdks_raise_a_clear_error(tmp_path: Path, client_kind: str, sdk: str, code: str) -> None:
    """What a developer sees: the SDK's own 502 exception carrying the sidecar's code and message."""
    async with running_sidecar(tmp_path, closed_port_url(), client=client_kind) as side:
        if sdk == "openai":
            async with openai.AsyncOpenAI(base_url=side.url + "/v1", api_key="sk-dummy",
                                          default_headers=who(), max_retries=0) as oc:
                with pytest.raises(openai.InternalServerError) as oerr:
                    await oc.chat.completions.create(model="gpt-4o-mini",
                                                     messages=[{"role": "user", "content": "hi"}])
            assert oerr.value.status_code == 502
            assert oerr.value.code == code
            assert "Lava gateway could not be reached" in oerr.value.message
        else:
            async with anthropic.AsyncAnthropic(base_url=side.url + "/anthropic", api_key="sk-dummy",
                                                default_headers=who(), max_retries=0) as ac:
                with pytest.raises(anthropic.InternalServerError) as aerr:
                    await ac.messages.create(model="claude-haiku-4-5", max_tokens=8,
                                             messages=[{"role": "user", "content": "hi"}])
            assert aerr.value.status_code == 502
            assert isinstance(aerr.value.body, dict)
            assert aerr.value.body["error"]["code"] == code
