"""Performs a ``Script`` on a live connection: pauses, writes, resets; reports what got through.

A write that fails means the client went away: the writer stops and says so instead of raising,
because the caller must still settle what was served.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from dataclasses import dataclass, field

from aiohttp import web

from .faults import Abort, Forever, Pause, Script, Send
from .reply import Part


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on faults that would otherwise run forever (``never-ends``, ``endless-line``)."""

    seconds: float = 300.0
    bytes: int = 256 * 1024 * 1024


@dataclass(slots=True)
class Delivery:
    """What got through; filled in as it happens, so it is accurate even after a cancellation."""

    status: int = 0
    headers_sent: bool = False
    sent: list[Part] = field(default_factory=list)
    bytes_sent: int = 0
    #: The script ran to its end and the response was finished properly.
    complete: bool = False
    client_gone: bool = False
    aborted: bool = False


async def perform(request: web.Request, script: Script, out: Delivery,
                  limits: Limits) -> web.StreamResponse | None:
    """Run ``script``, recording progress in ``out``; returns the response (None when the
    connection was reset before one)."""
    for step in script.before:
        if isinstance(step, Abort):
            _reset(request)
            out.aborted = True
            return None
        if isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
    resp = web.StreamResponse(status=script.status)
    for name, value in script.headers:
        resp.headers.add(name, value)
    if script.content_length is not None:
        resp.content_length = script.content_length
    try:
        await resp.prepare(request)
        out.status, out.headers_sent = script.status, True
        await _body(request, resp, script, out, limits)
        if not out.aborted:
            await resp.write_eof()
            out.complete = True
    except (ConnectionError, RuntimeError):
        # aiohttp raises ClientConnectionResetError (a ConnectionResetError) or, on some paths,
        # RuntimeError for writes to a closed transport: both mean the client left.
        out.client_gone = True
    return resp


async def _body(request: web.Request, resp: web.StreamResponse, script: Script, out: Delivery,
                limits: Limits) -> None:
    for step in script.body:
        if isinstance(step, Send):
            for _ in range(step.part.repeat):
                await resp.write(step.part.data)
            out.sent.append(step.part)
            out.bytes_sent += step.part.size
        elif isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
        elif isinstance(step, Abort):
            await _drain(request)
            _reset(request)
            out.aborted = True
            return
        elif isinstance(step, Forever):
            await _forever(request, resp, step, out, limits)
            return


async def _forever(request: web.Request, resp: web.StreamResponse, step: Forever, out: Delivery,
                   limits: Limits) -> None:
    deadline = time.monotonic() + limits.seconds
    while time.monotonic() < deadline and out.bytes_sent < limits.bytes:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client went away")
        await resp.write(step.data)
        out.bytes_sent += len(step.data)
        # sleep(0) still yields, so a tight endless line cannot starve the loop.
        await asyncio.sleep(step.interval)
    # The limit was reached: cut the connection rather than pretend the response ended well.
    await _drain(request)
    _reset(request)
    out.aborted = True


async def _drain(request: web.Request) -> None:
    """Let what was written reach the socket, so the client sees the bytes before the reset."""
    transport = request.transport
    for _ in range(100):
        if transport is None or transport.is_closing() or not transport.get_write_buffer_size():
            return
        await asyncio.sleep(0.001)


def _reset(request: web.Request) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, as from a crashed provider."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # the peer already closed: the reset is moot
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
