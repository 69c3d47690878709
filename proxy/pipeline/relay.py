"""Upstream response → client: status and headers, then every chunk written first and parsed second.

Nothing is re-serialised: the client gets Lava's bytes as they arrive. The only change ever made to
the body is removing the usage-only chunk the sidecar itself asked for (``UsageChunkStripper``).
When the upstream breaks mid-body, or the shutdown grace ends, an SSE stream ends with one error
event in the caller's API shape (the SDKs raise it as an API error); any other body is cut so the
client sees it incomplete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Protocol

from ..errors import Shape, SidecarError, error_body
from ..gateway import UpstreamError, UpstreamResponse
from ..http1 import Field
from ..inbound import Exchange
from ..usage.base import Extractor
from .runtime import is_shutdown_cut, shutting_down, uncancel

log = logging.getLogger("lava_sidecar.relay")

#: A stream cut at shutdown gets this long to take its error event (the client may not be reading).
_LAST_WRITE_SECONDS = 0.5


#: Longest an SSE response's head waits for the first event before going out alone.
_SSE_HEAD_HOLD = 0.02


class Stripper(Protocol):
    def feed(self, chunk: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


@dataclass(slots=True)
class RelayState:
    """What the handler needs to know afterwards, however the relay ended."""

    #: The response head was built: no other answer can be given now (it may still be held,
    #: to leave with the first body bytes).
    head_built: bool = False
    first_byte_at: float | None = None  # perf_counter() when the first body byte was written
    headers_at: float | None = None  # perf_counter() when the client response was prepared
    upstream_done: bool = False  # the upstream body was read to its end
    client_done: bool = False  # the client got the whole response (write_eof)
    client_gone: bool = False  # the client disconnected while we were writing
    extractor_failed: bool = False
    error: UpstreamError | None = None
    shutdown: bool = False  # cut because the shutdown grace ended


def sse_error_event(shape: Shape, err: SidecarError, *, after: bytes = b"") -> bytes:
    """Our error as one SSE event. ``after``: the last bytes relayed before it, so an upstream that
    broke off mid-line (or mid-event) does not swallow the event into its unfinished one."""
    body = error_body(shape, err.status, err.code, err.message)
    event = b"event: error\ndata: " + body + b"\n\n" if shape == "anthropic" else \
        b"data: " + body + b"\n\n"
    return _event_boundary(after) + event


def _event_boundary(end: bytes) -> bytes:
    """What ends the relayed stream's unfinished line and event (WHATWG: a blank line dispatches)."""
    if not end or end.endswith((b"\n\n", b"\r\r", b"\r\n\r\n")):
        return b""
    return b"\n" if end.endswith(b"\n") else b"\n\n"


async def _end_cut(ex: Exchange, shape: Shape, is_sse: bool, tail: bytes) -> None:
    """End a response the shutdown cuts: SSE with an error event and a proper end (bounded: the
    client may not be reading), any other body by closing the connection (it shows incomplete)."""
    if is_sse:
        try:
            async with asyncio.timeout(_LAST_WRITE_SECONDS):
                await ex.write(sse_error_event(shape, shutting_down(), after=tail))
                await ex.write_eof()
            return
        except (ConnectionResetError, TimeoutError):
            pass
    ex.abort()


class _Pump:
    """The body's sink (``UpstreamResponse.stream_to``): each piece of Lava's body is written to
    the client first and read for usage second, from the upstream connection's own callback, so
    a chunk costs no future and resumes no coroutine. Under back-pressure (the client's buffer
    above its high-water mark) Lava is not read until the client drains."""

    __slots__ = ("ex", "failure", "feed", "head_timer", "last", "prev", "st", "stripper", "up")

    def __init__(self, ex: Exchange, up: UpstreamResponse, st: RelayState,
                 feed: Callable[[bytes], None] | None, stripper: Stripper | None) -> None:
        self.ex, self.up, self.st = ex, up, st
        #: The extractor's feed; None when the stripper reads the usage in its own pass.
        self.feed = feed
        self.stripper = stripper
        self.head_timer: asyncio.TimerHandle | None = None
        # The ends of the last two pieces written: enough to tell where an SSE stream stands if it
        # breaks (only their last bytes: holding whole pieces kept two chunks alive per stalled
        # stream).
        self.prev = self.last = b""
        #: An error of our own (a bug) raised while relaying: re-raised by ``relay``.
        self.failure: BaseException | None = None

    def __call__(self, chunk: bytes) -> None:
        try:
            timer = self.head_timer
            if timer is not None:
                timer.cancel()
                self.head_timer = None
            stripper = self.stripper
            out = stripper.feed(chunk) if stripper is not None else chunk
            try:
                if out:
                    if not self.ex.push(out):
                        # The client is not draining: Lava waits too (the chunk in hand is all a
                        # stalled client costs, not everything Lava can send meanwhile).
                        self.up.pause_reading()
                        self.ex.when_writable(self.up.resume_reading)
                    self.prev, self.last = self.last, out[-4:]
            except ConnectionResetError:
                self.st.client_gone = True
                self.up.stop()
            finally:
                # Lava served this chunk, and bills it, whether or not the client took it: it
                # is read for usage even when the write failed (client gone).
                feed = self.feed
                if feed is not None:
                    try:
                        feed(chunk)
                    except Exception:
                        # A usage-reader bug must never cost the client its response; the
                        # record carries the failure, so it is counted once.
                        log.exception("usage extractor failed; usage for this request is what it saw")
                        self.feed, self.st.extractor_failed = None, True
            if self.st.first_byte_at is None:
                self.st.first_byte_at = perf_counter()
        except BaseException as exc:
            # Raised into the connection's parser it would look like Lava's fault: stop, and let
            # the relay raise it where the handler sees it.
            self.failure = exc
            self.up.stop()


async def relay(ex: Exchange, up: UpstreamResponse, st: RelayState, *,
                headers: list[Field], extractor: Extractor, stripper: Stripper | None,
                shape: Shape, is_sse: bool, stripper_reads_usage: bool = False) -> None:
    """``stripper_reads_usage``: the stripper shows every event to the usage reader itself (one
    pass over the stream), so the extractor is not fed."""
    # The head is held until the first body bytes, so both leave in one write.
    ex.start_fields(up.status, up.raw_reason, headers)
    st.head_built, st.headers_at = True, perf_counter()
    pump = _Pump(ex, up, st, None if stripper_reads_usage else extractor.feed, stripper)
    # An SSE head waits a moment for the first event (providers send both in one packet, and one
    # write instead of two took ~70 µs off the first byte), but never longer: a client whose model
    # thinks before its first token still sees the response begin.
    if is_sse:
        pump.head_timer = asyncio.get_running_loop().call_later(_SSE_HEAD_HOLD, ex.send_head)
    # Writes the relay awaits (the stripper's tail, an error event) hold Lava the same way.
    ex.hold_while_stalled(up.pause_reading, up.resume_reading)
    try:
        await up.stream_to(pump)
        if pump.failure is not None:
            raise pump.failure
        if st.client_gone:
            return
        st.upstream_done = True
        if stripper is not None and (tail := stripper.flush()):
            await ex.write(tail)
    except UpstreamError as err:
        st.error = err
        if not is_sse:
            # Content-Length or chunked framing left unfinished tells the client the body is cut.
            ex.abort()
            return
        try:
            await ex.write(sse_error_event(shape, err, after=pump.prev + pump.last))
        except ConnectionResetError:
            st.client_gone = True
            return
    except ConnectionResetError:
        st.client_gone = True
        return
    except asyncio.CancelledError as exc:
        if not is_shutdown_cut(exc):
            raise
        uncancel()
        st.shutdown = True
        await _end_cut(ex, shape, is_sse, pump.prev + pump.last)
        return
    finally:
        if pump.head_timer is not None:
            pump.head_timer.cancel()
    try:
        await ex.write_eof()
    except ConnectionResetError:
        st.client_gone = True
        return
    st.client_done = True
    return
