"""Pure response-head building for the inbound server: status line, framing, one ``bytes``.

Kept apart from the protocol so the rules (which responses carry a body, when chunked framing is
added, when the connection must close) are plain functions of their inputs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

from ..http1 import LAST_CHUNK, Field, chunk

#: Framing of a response body, decided when the head is built.
LENGTH: Final = 0  # Content-Length given by the caller: bytes written as they are
CHUNKED: Final = 1  # HTTP/1.1, no length: Transfer-Encoding: chunked is added
CLOSE: Final = 2  # HTTP/1.0, no length: the body ends when the connection does
NONE: Final = 3  # HEAD, 1xx, 204, 304: no body whatever the headers say

class HttpDate:
    """The ``Date`` value, formatted at most once per second (the only per-response clock work)."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def __call__(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second, self._value = now, formatdate(now, usegmt=True).encode("ascii")
        return self._value


def no_body(method: str, status: int) -> bool:
    return method == "HEAD" or status < 200 or status in (204, 304)


def _encode(text: str) -> bytes:
    # Our own headers are ASCII; a text holding latin-1 goes out as those bytes (as it always did).
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def build_head(status: int, reason: str, headers: Iterable[tuple[str, str]], *, method: str,
               http11: bool, keep_alive: bool, date: bytes) -> tuple[bytes, int, bool]:
    """``build_head_fields`` for headers given as text (the sidecar's own answers)."""
    fields: list[Field] = []
    for n, v in headers:
        name = _encode(n)
        fields.append((name.lower(), name, _encode(v)))
    return build_head_fields(status, _encode(reason or "Unknown"), fields, method=method,
                             http11=http11, keep_alive=keep_alive, date=date)


def build_head_fields(status: int, reason: bytes, fields: Iterable[Field], *, method: str,
                      http11: bool, keep_alive: bool, date: bytes) -> tuple[bytes, int, bool]:
    """The head's bytes, the body framing, and whether the connection stays open afterwards.

    ``fields`` (lower-case name, name, value) must not carry hop-by-hop framing other than
    ``Content-Length`` (the relay strips it, ``headers.response_fields``); framing is this
    function's to add. Names and values go out as the bytes given: a relayed head is never
    decoded and encoded again.
    """
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, reason or b"Unknown")]
    has_length = has_date = False
    for lname, name, value in fields:
        if lname == b"content-length":
            has_length = True
        elif lname == b"date":
            has_date = True
        parts += (name, b": ", value, b"\r\n")
    if not has_date:
        parts += (b"Date: ", date, b"\r\n")
    if no_body(method, status):
        framing = NONE
    elif has_length:
        framing = LENGTH
    elif http11:
        framing = CHUNKED
        parts.append(b"Transfer-Encoding: chunked\r\n")
    else:
        framing, keep_alive = CLOSE, False
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    elif not http11:
        parts.append(b"Connection: keep-alive\r\n")
    parts.append(b"\r\n")
    return b"".join(parts), framing, keep_alive


def refusal_response(status: int, headers: list[tuple[str, str]], body: bytes, date: bytes) -> bytes:
    """A complete response for input refused before any handler ran; the connection then closes."""
    head, _, _ = build_head(status, HTTPStatus(status).phrase,
                            [*headers, ("Content-Length", str(len(body)))], method="GET",
                            http11=True, keep_alive=False, date=date)
    return head + body

__all__ = ["CHUNKED", "CLOSE", "LAST_CHUNK", "LENGTH", "NONE", "HttpDate", "build_head",
           "build_head_fields", "chunk", "no_body", "refusal_response"]
