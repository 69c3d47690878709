"""Slow and hostile clients against a real ``lava-sidecar serve`` (issue 16), on raw sockets.

- a request head trickled a byte at a time gets a 408 within ``limits.header_timeout_seconds``, in
  the shape its path announces, and no usage line (nothing was attributed);
- a body that stalls longer than ``limits.body_idle_timeout_seconds`` gets a 408 and exactly one
  usage line (``rejected``, ``request_body_timeout``); nothing reaches Lava; one that pauses less is served;
- bodies that would take the memory held for request bodies over ``limits.max_buffered_body_bytes``
  (counted as their bytes arrive) get a 503 after a short wait, counted, while small requests go
  on being served;
- 50 SSE clients that never read cost a bounded amount of memory each (back-pressure stops reading
  from Lava), with both outbound clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.bounds import ClientBounds
from proxy.emulator.server import running_gateway

from ..conftest import TEST_SECRET
from .harness import CHAT, CUSTOMER, MESSAGES, body_for, call, fault_stack, only, who
from .process import SidecarProcess, eventually, sidecar_process
from .rawgateways import endless_gateway

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

ANTHROPIC_MESSAGES = "/anthropic/v1/messages"


async def sample(sp: SidecarProcess, name: str, **labels: str) -> float:
    """One sample from the process's /metrics (0 when absent)."""
    async with aiohttp.ClientSession() as http, http.get(sp.admin_url + "/metrics") as r:
        text = await r.text()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def lines_are(sp: SidecarProcess, n: int) -> bool:
    return len(sp.records()) == n


async def metric_is(sp: SidecarProcess, value: float, name: str, **labels: str) -> bool:
    return await sample(sp, name, **labels) == value


def parse_reply(data: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", len(body)))
    return status, headers, json.loads(body[:length]) if length else None


async def connect(sp: SidecarProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", sp.port)


async def read_reply(reader: asyncio.StreamReader) -> bytes:
    """Everything the sidecar sends before it closes (it closes after a refusal)."""
    data = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            data += chunk
    return data


def request_head(path: str, length: int, extra: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: sidecar", "Content-Type: application/json",
             f"Content-Length: {length}", *(f"{k}: {v}" for k, v in {**who(), **(extra or {})}.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def trickle_head(sp: SidecarProcess, path: str, *, line_at_once: bool) -> tuple[bytes, float]:
    """A head sent one byte a second (after the request line, when ``line_at_once``), until the
    sidecar answers; the answer and how long it took."""
    loop = asyncio.get_running_loop()
    reader, writer = await connect(sp)
    head = request_head(path, 10)
    line_end = head.index(b"\r\n") + 2
    if line_at_once:
        writer.write(head[:line_end])
        head = head[line_end:]
    started = loop.time()
    first = asyncio.ensure_future(reader.read(65536))
    for byte in head:
        writer.write(bytes([byte]))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.shield(first)
        if first.done():
            break
    else:
        raise AssertionError("the whole head went out a byte a second and nothing answered")
    took = loop.time() - started
    data = first.result() + await read_reply(reader)
    writer.close()
    return data, took


async def test_a_trickled_head_gets_408_in_its_shape_and_no_usage_line(tmp_path: Path) -> None:
    timeout = 2.0
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, limits={"header_timeout_seconds": timeout}) as sp:
        # Ten heads of each: OpenAI's shape (nothing of the path known yet), Anthropic's (the
        # request line came whole, the headers trickle).
        async with asyncio.timeout(timeout + 10):
            replies = await asyncio.gather(
                *(trickle_head(sp, CHAT, line_at_once=False) for _ in range(10)),
                *(trickle_head(sp, ANTHROPIC_MESSAGES, line_at_once=True) for _ in range(10)))
        for n, (data, took) in enumerate(replies):
            status, headers, body = parse_reply(data)
            assert status == 408
            assert headers["connection"] == "close"
            assert headers["x-lava-sidecar-error"] == "request_header_timeout"
            # Answered at the deadline, give or take the second between two bytes.
            assert took < timeout + 2.0
            if n < 10:
                assert body["error"]["code"] == "request_header_timeout"
                assert "limits.header_timeout_seconds" in body["error"]["message"]
            else:
                assert body["type"] == "error"
                assert body["error"]["code"] == "request_header_timeout"
        await eventually(lambda: metric_is(sp, 20, "lava_sidecar_client_timeouts_total",
                                           phase="head"), 5)
        # Still serving, and the slow heads left nothing behind in the usage log.
        assert (await call(sp.url, CHAT)).status == 200
        await eventually(lambda: lines_are(sp, 1), 5)
    assert [r["status"] for r in sp.records()] == [200]
    assert len(gw.seen) == 1


async def stall_body(sp: SidecarProcess, path: str, sent: bytes, declared: int) -> bytes:
    reader, writer = await connect(sp)
    writer.write(request_head(path, declared) + sent)
    await writer.drain()
    data = await read_reply(reader)
    writer.close()
    return data


async def test_a_stalled_body_gets_408_and_exactly_one_usage_line(tmp_path: Path) -> None:
    idle = 2.0
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, limits={"body_idle_timeout_seconds": idle}) as sp:
        openai_body, anthropic_body = body_for(CHAT, stream=False), body_for(MESSAGES, stream=True)
        async with asyncio.timeout(idle + 10):
            (status_o, headers_o, err_o), (status_a, _, err_a) = [parse_reply(r) for r in
                await asyncio.gather(
                    stall_body(sp, CHAT, openai_body[:20], len(openai_body) + 1000),
                    stall_body(sp, ANTHROPIC_MESSAGES, anthropic_body[:20], len(anthropic_body) + 1000))]
        assert (status_o, status_a) == (408, 408)
        assert headers_o["x-lava-sidecar-error"] == "request_body_timeout"
        assert err_o["error"]["code"] == "request_body_timeout"
        assert "limits.body_idle_timeout_seconds" in err_o["error"]["message"]
        assert (err_a["type"], err_a["error"]["code"]) == ("error", "request_body_timeout")
        await eventually(lambda: metric_is(sp, 2, "lava_sidecar_client_timeouts_total", phase="body"), 5)
        await eventually(lambda: lines_are(sp, 2), 5)
        assert gw.seen == []  # nothing of a stalled body is forwarded

        # Pauses shorter than the idle timeout are not a stall: served in full.
        reader, writer = await connect(sp)
        writer.write(request_head(CHAT, len(openai_body)))
        for n in range(0, len(openai_body), 20):
            writer.write(openai_body[n:n + 20])
            await asyncio.sleep(idle / 3)
        status, _, answer = parse_reply(await _read_one_response(reader))
        writer.close()
        assert status == 200
        assert answer["object"] == "chat.completion"
        await eventually(lambda: lines_are(sp, 3), 5)
    records = sp.records()
    timed_out = [r for r in records if r["status"] == 408]
    assert len(timed_out) == 2
    for rec in timed_out:
        assert (rec["customer"], rec["outcome"], rec["error_code"], rec["partial"]) == \
            (CUSTOMER, "rejected", "request_body_timeout", False)
    assert sorted(r["provider"] for r in timed_out) == ["anthropic", "openai"]
    assert [r["outcome"] for r in records if r["status"] == 200] == ["ok"]


async def _read_one_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return head + await reader.readexactly(length)


async def test_the_body_buffer_cap_refuses_with_503_and_keeps_serving(tmp_path: Path) -> None:
    big = 300_000
    limits = {"max_body_bytes": big, "max_buffered_body_bytes": 2 * big, "body_idle_timeout_seconds": 8}
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, limits=limits) as sp:
        # Two bodies of the largest size, sent but for their last byte: together they hold all
        # the room (what is held is counted, byte for byte, not what Content-Length announces).
        holders = [asyncio.ensure_future(stall_body(sp, CHAT, b"x" * (big - 1), big)) for _ in range(2)]
        await eventually(lambda: metric_is(sp, 2 * (big - 1), "lava_sidecar_buffered_body_bytes"), 10)
        # A third does not fit: after a short wait, 503 in its shape, with a retry hint.
        async with asyncio.timeout(10):
            status, headers, err = parse_reply(await stall_body(sp, ANTHROPIC_MESSAGES, b'{"model":', big))
        assert status == 503
        assert headers["retry-after"] == "1"
        assert (err["type"], err["error"]["code"]) == ("error", "request_buffer_full")
        assert "limits.max_buffered_body_bytes" in err["error"]["message"]
        await eventually(lambda: metric_is(sp, 1, "lava_sidecar_body_buffer_refusals_total"), 5)
        # A small request (its body arrives with its head) is served meanwhile.
        assert (await call(sp.url, CHAT)).status == 200
        # The holders stall out (408); their room is given back, and a large body fits again.
        for data in await asyncio.gather(*holders):
            assert parse_reply(data)[0] == 408
        await eventually(lambda: metric_is(sp, 0, "lava_sidecar_buffered_body_bytes"), 5)
        doc = json.loads(body_for(CHAT, stream=False))
        doc["messages"][0]["content"] = "x" * (big - 1000)
        large = json.dumps(doc).encode()
        reader, writer = await connect(sp)
        writer.write(request_head(CHAT, len(large)))
        await writer.drain()
        await asyncio.sleep(0.2)  # the body arrives apart from its head: it takes room first
        writer.write(large)
        status, _, answer = parse_reply(await _read_one_response(reader))
        writer.close()
        assert status == 200
        assert answer["object"] == "chat.completion"
        await eventually(lambda: lines_are(sp, 5), 5)
    by_code = sorted((r["status"], r["outcome"], r["error_code"]) for r in sp.records())
    assert by_code == [(200, "ok", None), (200, "ok", None),
                       (408, "rejected", "request_body_timeout"),
                       (408, "rejected", "request_body_timeout"),
                       (503, "rejected", "request_buffer_full")]
    assert len(gw.seen) == 2


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


async def open_stream(sp: SidecarProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An SSE request whose client then never reads (a small receive buffer, reading paused)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", sp.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    body = body_for(CHAT, stream=True)
    writer.write(request_head(CHAT, len(body)) + body)
    await writer.drain()
    writer.transport.pause_reading()  # type: ignore[attr-defined]
    return reader, writer


async def settled(sent: Any) -> None:
    """Until the gateway stops getting bytes out: every stream is held back."""
    last = -1
    async with asyncio.timeout(60):
        while (now := sent()) != last:
            last = now
            await asyncio.sleep(1.0)


@pytest.mark.parametrize("client", ["lean", "aiohttp"])
async def test_50_stalled_sse_readers_cost_a_bounded_buffer_each(tmp_path: Path, client: str) -> None:
    streams = 50
    # No price listing: the endless gateway would answer it too, and this measures streams alone.
    async with endless_gateway(cap=1 << 20) as gw, \
            sidecar_process(tmp_path, gw.url, client=client, pricing={"from_lava": False}) as sp:
        # Warm up on streams read to their end, so the baseline has paid for first-use costs.
        for _ in range(10):
            reader, writer = await open_stream(sp)
            writer.transport.resume_reading()  # type: ignore[attr-defined]
            await reader.readuntil(b"\r\n0\r\n\r\n")
            writer.close()
        await asyncio.sleep(0.5)
        baseline = rss(sp.proc.pid)
        gw.cap = 1 << 40
        conns = [await open_stream(sp) for _ in range(streams)]
        await settled(lambda: gw.sent)
        grown = rss(sp.proc.pid) - baseline
        per_stream = grown / streams
        print(f"\n{client}: {streams} stalled SSE streams, RSS +{grown / 1024:.0f} KiB over the "
              f"baseline ({baseline / 1024:.0f} KiB): {per_stream / 1024:.0f} KiB per stream; "
              f"the gateway got {gw.sent / streams / 1024:.0f} KiB per stream out (kernel buffers)")
        # Was ~2.5 MB per stream with the lean client (issue 16: 2.1 MB); target 256 KiB. RSS on a
        # shared machine spreads (lean: 166-309 KiB over 16 runs, the same before and after a
        # change), so the bound is the regression, not the target: the target is a figure
        # (docs/failure-behaviour.md), not a timed or sized assertion that flakes.
        assert per_stream < 512 * 1024
        for _, writer in conns:
            writer.close()
        # Every stream ends as a client disconnect, recorded once; the sidecar serves on.
        await eventually(lambda: lines_are(sp, 10 + streams), 20)
    outcomes = [r["outcome"] for r in sp.records()]
    assert outcomes.count("client_disconnect") == streams


async def test_a_streamed_upload_that_stalls_gets_408_and_is_never_completed_upstream(
        tmp_path: Path, client_kind: str) -> None:
    """A large non-JSON body streams to Lava as it arrives; when it stalls, the upload is cut (Lava
    never gets a complete request) and the client gets the 408. Its line is partial: the request
    had begun to leave."""
    size = 4 * 1024 * 1024
    async with fault_stack(tmp_path, client_kind, bounds=ClientBounds(body_idle_timeout=1.0)) as s:
        host, port = s.side.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = (f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {size}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in who().items()) + "\r\n").encode()
        writer.write(head + b"--x\r\n" + b"a" * (size // 2))
        async with asyncio.timeout(20):
            status, _, err = parse_reply(await read_reply(reader))
        writer.close()
        assert status == 408
        assert err["error"]["code"] == "request_body_timeout"
        await s.side.settled()
        assert [seen.complete for seen in s.gw.seen] in ([], [False])
        assert s.side.sample("lava_sidecar_rejected_requests_total", reason="request_body_timeout") == 1
    rec = only(s.side.records())
    assert (rec["customer"], rec["status"], rec["outcome"], rec["error_code"]) == \
        (CUSTOMER, 408, "rejected", "request_body_timeout")
