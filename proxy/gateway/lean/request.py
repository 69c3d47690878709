"""The request side of the wire: where a URL goes (``Origin``) and its head, serialised once as bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlsplit

from ...errors import GatewayUnreachable
from ..base import UpstreamError, unreachable

#: Framing and Host belong to the client; a caller's copy would contradict the bytes actually sent.
_OWNED: Final = frozenset({"host", "content-length", "transfer-encoding"})
_OWNED_LENGTHS: Final = frozenset(len(n) for n in _OWNED)
#: Methods whose empty body is still announced (``Content-Length: 0``), as aiohttp does.
BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
#: Printable ASCII except space: what a request target may hold without percent-encoding.
_TARGET_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F))
#: Distinct origins remembered; the sidecar talks to one, this only bounds a misuse.
_MAX_ORIGINS: Final = 64
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


class Origins:
    """``url`` → (``Origin``, request target), parsing each origin once; the hot path is a dict hit."""

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[str, Origin] = {}

    def split(self, url: str) -> tuple[Origin, str]:
        cut = url.find("/", url.find("//") + 2)
        prefix, target = (url, "/") if cut < 0 else (url[:cut], url[cut:])
        origin = self._known.get(prefix)
        if origin is None:
            origin, named = parse_origin(url)
            if named != prefix:  # e.g. "http://h?q": no path, so the cut above was wrong
                rest = url[len(named):]
                target = rest if rest.startswith("/") else "/" + rest
                return origin, _clean_target(target)
            if len(self._known) >= _MAX_ORIGINS:
                self._known.clear()
            self._known[prefix] = origin
        return origin, _clean_target(target)


def _clean_target(target: str) -> str:
    hash_at = target.find("#")
    if hash_at >= 0:  # fragments never go on the wire
        target = target[:hash_at]
    if target.isascii() and target.isprintable() and " " not in target:
        return target
    return quote(target, safe=_TARGET_SAFE)


def request_head(method: str, target: str, host: str, headers: list[tuple[str, str]],
                 length: int | None) -> bytes:
    """The request line and headers. ``length``: Content-Length, ``CHUNKED``, or None for no body.

    Header names keep their case and order. A CR or LF inside any of them would split the head
    into lines we did not write (request smuggling), so the line count is checked on the bytes.
    """
    lines = [f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"]
    append = lines.append
    for name, value in headers:
        if len(name) in _OWNED_LENGTHS and name.lower() in _OWNED:
            continue
        append(f"{name}: {value}\r\n")
    if length is not None:
        append("Transfer-Encoding: chunked\r\n\r\n" if length == CHUNKED
               else f"Content-Length: {length}\r\n\r\n")
    else:
        append("\r\n")
    head = "".join(lines).encode("utf-8", "surrogateescape")
    # request line + Host + one per header + (framing line) + the blank line
    expected = len(lines) + (2 if length is not None else 1)
    if head.count(b"\n") != expected or head.count(b"\r") != expected:
        raise UpstreamError(GatewayUnreachable, "protocol",
                            "A request header or the URL contains CR or LF; the request was not sent.")
    return head


def chunk_frame(data: bytes) -> bytes:
    """One chunk of a chunked request body (RFC 9112 section 7.1)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK: Final = b"0\r\n\r\n"
