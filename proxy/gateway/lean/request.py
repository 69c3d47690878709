"""The request side of the wire: where a URL goes (``Origin``) and its head, serialised once as bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlsplit

from ...errors import GatewayUnreachable
from ..base import UpstreamError, unreachable

#: Framing and Host belong to the client; a caller's copy would contradict the bytes actually sent.
_OWNED: Final = frozenset({b"host", b"content-length", b"transfer-encoding"})
_OWNED_LENGTHS: Final = frozenset(len(n) for n in _OWNED)
#: Methods whose empty body is still announced (``Content-Length: 0``), as aiohttp does.
BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
#: Printable ASCII except space: what a request target may hold without percent-encoding.
_TARGET_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F))
#: Distinct origins and request lines remembered; the sidecar uses a few, this bounds a misuse.
_MAX_ORIGINS: Final = 64
_MAX_LINES: Final = 1024
CHUNKED: Final = -1


@dataclass(frozen=True, slots=True)
class Origin:
    """One scheme://host:port: the pool key, where to connect, and the Host header to send."""

    key: str
    host: str
    port: int
    tls: bool
    host_header: str


def parse_origin(url: str) -> tuple[Origin, str]:
    """``url`` → its origin and the prefix of ``url`` that names it (``scheme://netloc``)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _bad_url() from exc
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host or parts.username is not None:
        raise _bad_url()
    default = 443 if scheme == "https" else 80
    if port is None:
        port = default
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    return Origin(f"{scheme}://{host_header}", host, port, scheme == "https", host_header), \
        f"{parts.scheme}://{parts.netloc}"


def _bad_url() -> UpstreamError:
    return unreachable("connect", "the gateway URL is not a plain http(s) URL")


class Targets:
    """(method, url) → (``Origin``, request line + Host header as bytes), each worked out once.

    The sidecar sends a handful of distinct URLs (one per provider route), so the hot path is one
    dict hit; the memory is bounded by clearing on overflow.
    """

    __slots__ = ("_lines", "_origins")

    def __init__(self) -> None:
        self._origins: dict[str, Origin] = {}
        self._lines: dict[tuple[str, str], tuple[Origin, bytes]] = {}

    def line(self, method: str, url: str) -> tuple[Origin, bytes]:
        key = (method, url)
        known = self._lines.get(key)
        if known is None:
            origin, target = self._split(url)
            text = f"{method} {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n"
            if not method.isalpha() or text.count("\n") != 2 or text.count("\r") != 2:
                raise _smuggling()
            known = origin, text.encode("ascii")
            if len(self._lines) >= _MAX_LINES:
                self._lines.clear()
            self._lines[key] = known
        return known

    def _split(self, url: str) -> tuple[Origin, str]:
        cut = url.find("/", url.find("//") + 2)
        prefix, target = (url, "/") if cut < 0 else (url[:cut], url[cut:])
        origin = self._origins.get(prefix)
        if origin is None:
            origin, named = parse_origin(url)
            if named != prefix:  # e.g. "http://h?q": no path, so the cut above was wrong
                rest = url[len(named):]
                return origin, _clean_target(rest if rest.startswith("/") else "/" + rest)
            if len(self._origins) >= _MAX_ORIGINS:
                self._origins.clear()
            self._origins[prefix] = origin
        return origin, _clean_target(target)


def _clean_target(target: str) -> str:
    hash_at = target.find("#")
    if hash_at >= 0:  # fragments never go on the wire
        target = target[:hash_at]
    if target.isascii() and target.isprintable() and " " not in target:
        return target
    return quote(target, safe=_TARGET_SAFE)


def _smuggling() -> UpstreamError:
    return UpstreamError(GatewayUnreachable, "protocol",
                         "A request header, the method or the URL contains CR or LF; the request "
                         "was not sent.")


def request_head(line: bytes, headers: list[tuple[bytes, bytes]], length: int | None) -> bytes:
    """``line`` (from ``Targets``) + headers. ``length``: Content-Length, ``CHUNKED``, or None.

    Header names keep their case and order; the head is joined from the bytes given, once. A CR
    or LF inside any of them would split the head into lines we did not write (request
    smuggling), so the line count is checked on the bytes.
    """
    parts = [line]
    for name, value in headers:
        if len(name) in _OWNED_LENGTHS and name.lower() in _OWNED:
            continue
        parts += (name, b": ", value, b"\r\n")
    lines = (len(parts) - 1) // 4
    if length is None:
        parts.append(b"\r\n")
        expected = lines + 1
    else:
        parts.append(b"Transfer-Encoding: chunked\r\n\r\n" if length == CHUNKED
                     else b"Content-Length: %d\r\n\r\n" % length)
        expected = lines + 2
    head = b"".join(parts)
    expected += line.count(b"\n")  # the request line and Host, as ``Targets`` checked them
    if head.count(b"\n") != expected or head.count(b"\r") != expected:
        raise _smuggling()
    return head
