"""Client faults: it leaves before the response, mid-stream, while the sidecar is still connecting or
reading its body; and it reads slowly (back-pressure bounds what the sidecar holds for it).

Each: the request is recorded once (``client_disconnect``, partial when the request had gone out),
the upstream connection is closed rather than pooled, and the sidecar goes on serving.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from proxy.emulator.providers import Pacing

from .harness import (
    CHAT,
    CUSTOMER,
    MESSAGES,
    Sidecar,
    body_for,
    call,
    fault_stack,
    only,
    running_sidecar,
    until,
    who,
)
from .rawgateways import connect_hangs, endless_gateway, silent_gateway

pytestmark = pytest.mark.timeout(60)
JSON = {"Content-Type": "application/json"}


async def raw_request(side: Sidecar, path: str, body: bytes, *, fault: str | None = None,
                      declared: int | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A request written on a plain socket, so the test decides exactly when the client vanishes."""
    host, port = side.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
            f"Content-Length: {declared if declared is not None else len(body)}",
            *(f"{k}: {v}" for k, v in who().items())]
    if fault is not None:
        head.append(f"x-emulator-fault: {fault}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    return reader, writer


async def vanish(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_disconnect_before_the_response(tmp_path: Path, client_kind: str, path: str) -> None:
    async with silent_gateway() as gw, running_sidecar(tmp_path, gw.url, client=client_kind) as side:
        _, writer = await raw_request(side, path, body_for(path, stream=True))
        await until(lambda: gw.requests == 1)
        await vanish(writer)
        # The sidecar drops its upstream connection as soon as its client is gone.
        async with asyncio.timeout(5):
            await gw.closed.wait()
        await side.settled()
        assert side.sample("lava_sidecar_client_disconnects_total", stage="before_response") == 1
    rec = only(side.records())
    assert (rec["customer"], rec["outcome"], rec["status"]) == (CUSTOMER, "client_disconnect", 0)
    # It reached Lava, which may have billed it: the record's (absent) usage is not the whole story.
    assert rec["partial"] is True


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_disconnect_mid_stream(tmp_path: Path, client_kind: str, path: str) -> None:
    options = {"pacing": Pacing(chunks=200, delay=0.02)}
    async with fault_stack(tmp_path, client_kind, gateway_options=options) as s:
        reader, writer = await raw_request(s.side, path, body_for(path, stream=True))
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        await reader.readuntil(b"\r\n\r\n")
        await reader.read(10)  # some of the body
        await vanish(writer)
        seen = await s.gw.last.finished()  # the gateway noticed its client (the sidecar) left
        assert not seen.complete
        await s.side.settled()
        assert s.side.sample("lava_sidecar_client_disconnects_total", stage="mid_stream") == 1
        assert (await call(s.side.url, path, stream=True)).status == 200
    rec = only(s.side.records(), lava_request_id=seen.request_id)
    assert (rec["customer"], rec["outcome"], rec["status"], rec["partial"]) == \
        (CUSTOMER, "client_disconnect", 200, True)


async def test_mid_stream_disconnect_closes_the_upstream_connection(tmp_path: Path, client_kind: str) -> None:
    """Never back to the pool: the next request opens a new connection."""
    async with endless_gateway(cap=1 << 30) as gw, \
            running_sidecar(tmp_path, gw.url, client=client_kind) as side:
        for n in (1, 2):
            reader, writer = await raw_request(side, CHAT, body_for(CHAT, stream=True))
            await reader.readuntil(b"\r\n\r\n")
            await reader.read(1000)
            await vanish(writer)
            async with asyncio.timeout(10):
                await gw.closed_by_client.wait()
            gw.closed_by_client.clear()
            assert gw.server is not None
            assert gw.server.connections == n
        await side.settled()
    assert [r["outcome"] for r in side.records()] == ["client_disconnect"] * 2


async def test_disconnect_while_the_sidecar_is_connecting(tmp_path: Path, client_kind: str) -> None:
    async with connect_hangs() as url, \
            running_sidecar(tmp_path, url, client=client_kind, gateway={"connect_timeout": 30}) as side:
        _, writer = await raw_request(side, MESSAGES, body_for(MESSAGES, stream=False))
        await until(lambda: side.runtime.inflight.requests == 1)
        await asyncio.sleep(0.1)  # let it get into connect()
        await vanish(writer)
        await side.settled()
        assert side.sample("lava_sidecar_connect_retries_total") == 0
        assert side.sample("lava_sidecar_client_disconnects_total", stage="before_response") == 1
    rec = only(side.records())
    assert (rec["customer"], rec["outcome"], rec["status"]) == (CUSTOMER, "client_disconnect", 0)


async def test_disconnect_while_sending_the_body(tmp_path: Path, client_kind: str) -> None:
    async with fault_stack(tmp_path, client_kind) as s:
        _, writer = await raw_request(s.side, CHAT, b'{"model":"gpt-4o', declared=5000)
        await until(lambda: s.side.runtime.inflight.requests == 1)
        await vanish(writer)
        await s.side.settled()
        assert s.gw.seen == []  # nothing half-read is ever forwarded
        assert (await call(s.side.url, CHAT)).status == 200
    rec = only(s.side.records(), outcome="client_disconnect")
    assert (rec["customer"], rec["status"], rec["partial"]) == (CUSTOMER, 0, False)


async def test_slow_reader_holds_the_stream_back(tmp_path: Path, client_kind: str) -> None:
    """A client that stops reading: the sidecar stops reading upstream too, instead of buffering the
    stream. The endless gateway could send a gigabyte; it gets to send only what the socket
    buffers along the way hold."""
    async with endless_gateway(cap=1 << 30) as gw, \
            running_sidecar(tmp_path, gw.url, client=client_kind) as side:
        reader, writer = await raw_request(side, CHAT, body_for(CHAT, stream=True))
        await reader.readuntil(b"\r\n\r\n")
        await reader.read(1000)
        # Wait for the flow to stop: no progress over half a second.
        last = -1
        async with asyncio.timeout(20):
            while gw.sent != last:
                last = gw.sent
                await asyncio.sleep(0.5)
        # Kernel socket buffers on loopback (up to tcp_rmem/tcp_wmem max on both hops) plus the
        # sidecar's own bounded read buffer: far below the gigabyte it was offered.
        assert gw.sent < 64 << 20
        held = gw.sent
        await vanish(writer)
        async with asyncio.timeout(10):
            await gw.closed_by_client.wait()
        await side.settled()
    assert held > 0
    rec = only(side.records())
    assert (rec["outcome"], rec["partial"]) == ("client_disconnect", True)
