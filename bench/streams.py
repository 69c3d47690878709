"""An SSE client that times every chunk: time to first byte, inter-chunk gaps, chunks held back.

Raw asyncio + httptools, one connection per stream, so the client's own cost is tiny and equal for
every target (added figures subtract the direct run of the same round). Reads OpenAI's chat chunks
or (``gemini=True``) Gemini's ``streamGenerateContent`` chunks. Also holds N streams open at once
for the memory phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import httptools

from . import payloads

EXPECTED_TEXT = "".join(payloads.STREAM_TOKENS)


@dataclass(slots=True)
class StreamResult:
    status: int = 0
    ttfb_s: float | None = None  # request written → first body byte
    event_times: list[float] = field(default_factory=list)  # content chunks, seconds after the request
    text: list[str] = field(default_factory=list)
    usage_chunks: int = 0  # usage-only chunks the client saw (it never asks for them)
    done: bool = False  # ``data: [DONE]`` (Gemini: a ``finishReason``) seen and the response complete
    error: str | None = None
    sent_at: float = 0.0  # perf_counter() when the request was written

    def problem(self, expect_text: str | None = EXPECTED_TEXT) -> str | None:
        if self.error is not None:
            return self.error
        if self.status != 200:
            return f"status {self.status}"
        if not self.done:
            return "incomplete stream"
        if expect_text is not None and "".join(self.text) != expect_text:
            return "content differs from what the upstream sent"
        return None


def build_request(port: int, path: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
             "Accept: text/event-stream", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class SseClient(asyncio.Protocol):
    """A keep-alive connection that carries one SSE request at a time, as an SDK's pool does.

    ``send`` starts a request; ``first`` resolves at its first content chunk, ``finished`` at its
    end. The connection stays open for the next request unless the response or an error ended it.
    ``gemini``: the chunks are Gemini's (text in ``candidates[0].content.parts``, the end is the
    chunk with a ``finishReason``: Gemini sends no ``[DONE]``).
    """

    def __init__(self, request: bytes | None = None, *, gemini: bool = False) -> None:
        self._loop = asyncio.get_running_loop()
        self._gemini = gemini
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._pending = request
        self._reset()

    def _reset(self) -> None:
        self.result = StreamResult()
        self.first: asyncio.Future[None] = self._loop.create_future()
        self.finished: asyncio.Future[None] = self._loop.create_future()
        self._buf = b""
        self._t0 = self._now = 0.0

    def send(self, request: bytes) -> None:
        """Start the next request on this connection (the previous one must have finished)."""
        if self.finished.done():
            self._reset()
        if self.transport is None or self.closed:
            self._finish("connection closed before the request was sent")
            return
        self._t0 = self.result.sent_at = time.perf_counter()
        self.transport.write(request)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its interface.
        self.transport = cast(asyncio.Transport, transport)
        if self._pending is not None:
            self.send(self._pending)

    def data_received(self, data: bytes) -> None:
        self._now = time.perf_counter()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(f"bad HTTP response: {exc}")

    def on_headers_complete(self) -> None:
        self.result.status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        r = self.result
        if r.ttfb_s is None:
            r.ttfb_s = self._now - self._t0
        # On the joined buffer: a CRLF (Gemini's line end) may straddle two reads.
        self._buf = (self._buf + body).replace(b"\r\n", b"\n")
        while (end := self._buf.find(b"\n\n")) >= 0:
            event, self._buf = self._buf[:end], self._buf[end + 2:]
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].strip())

    def _data(self, payload: bytes) -> None:
        r = self.result
        if payload == b"[DONE]":
            r.done = True
            return
        try:
            doc = json.loads(payload)
        except ValueError:
            self._finish("an SSE data line is not JSON")
            return
        if self._gemini:
            self._gemini_chunk(doc)
            return
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if not choices:
            r.usage_chunks += 1 if isinstance(doc, dict) and doc.get("usage") else 0
            return
        content = (choices[0].get("delta") or {}).get("content")
        if content:
            r.event_times.append(self._now - self._t0)
            r.text.append(content)
            if not self.first.done():
                self.first.set_result(None)

    def _gemini_chunk(self, doc: object) -> None:
        candidates = doc.get("candidates") if isinstance(doc, dict) else None
        if not candidates or not isinstance(candidates[0], dict):
            return
        candidate = candidates[0]
        parts = (candidate.get("content") or {}).get("parts") or ()
        content = "".join(p.get("text") or "" for p in parts if isinstance(p, dict) and not p.get("thought"))
        if content:
            self.result.event_times.append(self._now - self._t0)
            self.result.text.append(content)
            if not self.first.done():
                self.first.set_result(None)
        if candidate.get("finishReason"):
            self.result.done = True

    def on_message_complete(self) -> None:
        self.result.done = self.result.done and not self._buf.strip()
        if not self._parser.should_keep_alive():
            self.close()
        self._finish(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._finish("connection closed before the stream ended")

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _finish(self, error: str | None) -> None:
        if error is not None:
            self.close()
        if not self.finished.done():
            if error is not None and self.result.error is None:
                self.result.error = error
            self.finished.set_result(None)
        if not self.first.done():
            self.first.set_result(None)


async def _connect(port: int, time_limit: float, gemini: bool) -> SseClient:
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(loop.create_connection(
        lambda: SseClient(gemini=gemini), "127.0.0.1", port), time_limit)
    return proto


_STALL_S = 0.002  # client event-loop lag worth recording
_MAX_STALLS = 10_000


@dataclass(frozen=True, slots=True)
class StreamBatch:
    results: list[StreamResult]
    #: Windows (perf_counter start, end) in which the client's own event loop was stalled.
    stalls: list[tuple[float, float]]

    @property
    def client_lag_max_s(self) -> float:
        return max((e - s for s, e in self.stalls), default=0.0)


async def _watch_lag(period: float, stalls: list[tuple[float, float]]) -> None:
    while True:
        due = time.perf_counter() + period
        await asyncio.sleep(period)
        now = time.perf_counter()
        if now - due > _STALL_S and len(stalls) < _MAX_STALLS:
            stalls.append((due, now))


def held_back(results: Sequence[StreamResult], interval: float,
              stalls: Sequence[tuple[float, float]]) -> tuple[int, int]:
    """Chunks that arrived within a quarter interval of the previous one, although the upstream
    never sends two closer than half an interval: (held on the way, seen while the client itself
    was stalled and so possibly held by the client)."""
    on_path = by_client = 0
    for r in results:
        for prev, cur in itertools.pairwise(r.event_times):
            if cur - prev >= interval / 4:
                continue
            at = r.sent_at + cur
            if any(s <= at and e >= at - interval for s, e in stalls):
                by_client += 1
            else:
                on_path += 1
    return on_path, by_client


async def run_streams(port: int, path: str, headers: Sequence[tuple[str, str]], body: bytes, *,
                      count: int, concurrency: int, spacing: float,
                      time_limit: float, gemini: bool = False) -> StreamBatch:
    """``count`` streams starting ``spacing`` seconds apart, at most ``concurrency`` at a time,
    over at most ``concurrency`` keep-alive connections (as an SDK's pool reuses them).
    ``gemini``: Gemini's streamGenerateContent chunks, not OpenAI's chat chunks.

    Staggered starts, as requests arrive in life: a burst of simultaneous requests measures the
    accept queue, not the time a proxy adds to one stream's first byte.
    """
    request = build_request(port, path, headers, body)
    sem = asyncio.Semaphore(concurrency)
    idle: list[SseClient] = []
    opened: list[SseClient] = []

    async def one(k: int) -> StreamResult:
        await asyncio.sleep(k * spacing)
        async with sem:
            conn = idle.pop() if idle else None
            if conn is None:
                try:
                    conn = await _connect(port, time_limit, gemini)
                except (OSError, TimeoutError) as exc:
                    return StreamResult(error=f"connect: {exc!r}")
                opened.append(conn)
            conn.send(request)
            try:
                await asyncio.wait_for(asyncio.shield(conn.finished), time_limit)
            except TimeoutError:
                conn._finish("timed out")
            if not conn.closed:
                idle.append(conn)
            return conn.result

    stalls: list[tuple[float, float]] = []
    watcher = asyncio.create_task(_watch_lag(0.001, stalls))
    try:
        results = list(await asyncio.gather(*(one(k) for k in range(count))))
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        for conn in opened:
            conn.close()
    return StreamBatch(results, stalls)


@dataclass(frozen=True, slots=True)
class HoldResult:
    opened: int  # streams that delivered their first chunk and were all open together
    errors: int
    rss_peak: int  # bytes, the largest ``sample()`` while all were open
    open_s: float  # time to get them all open


async def hold_streams(port: int, path: str, headers: Sequence[tuple[str, str]], body: bytes, *,
                       count: int, open_concurrency: int, time_limit: float,
                       sample: Callable[[], int]) -> HoldResult:
    """Open ``count`` long streams, wait until each has sent its first chunk, sample memory, close."""
    loop = asyncio.get_running_loop()
    request = build_request(port, path, headers, body)
    sem = asyncio.Semaphore(open_concurrency)
    clients: list[SseClient] = []
    t0 = loop.time()
    deadline = t0 + time_limit

    async def open_one() -> bool:
        async with sem:
            left = deadline - loop.time()
            if left <= 0:
                return False
            try:
                _, proto = await asyncio.wait_for(
                    loop.create_connection(lambda: SseClient(request), "127.0.0.1", port), left)
            except (OSError, TimeoutError):
                return False
            clients.append(proto)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proto.first), max(deadline - loop.time(), 0.01))
            r = proto.result
            return r.status == 200 and bool(r.event_times) and r.error is None

    try:
        oks = await asyncio.gather(*(open_one() for _ in range(count)))
        open_s = loop.time() - t0
        peak = 0
        for _ in range(5):  # a few samples over a second: allocations settle after the last open
            peak = max(peak, sample())
            await asyncio.sleep(0.25)
        still_open = sum(1 for c in clients if not c.finished.done())
    finally:
        for c in clients:
            c.close()
    opened = min(sum(oks), still_open)
    return HoldResult(opened=opened, errors=count - opened, rss_peak=peak, open_s=open_s)
