"""Header policy: what crosses the sidecar in each direction, and what never does.

Outbound: provider feature headers (``anthropic-version``, ``anthropic-beta``, ``openai-beta``,
``openai-organization``, ``x-stainless-*``, …) pass byte for byte; hop-by-hop headers, browser
headers (``Origin``, ``Referer``, ``Cookie``: Anthropic treats them as CORS calls), proxy topology
(``X-Forwarded-*``), the app's own credential (``Authorization``, ``x-api-key``, Google's
``x-goog-api-key``) and the sidecar's ``X-Lava-*`` control headers do not.
The forward token is added by the sidecar only.

The policy is written once, as text, below; the request path applies it to header fields as bytes
(``outbound_fields``, ``response_fields``: nothing decoded, each name lower-cased once on arrival).
``outbound`` and ``response_headers`` are the same rules over text pairs.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Final

from .http1 import Field, field

#: RFC 9110 7.6.1 hop-by-hop headers plus those the HTTP client sets itself.
HOP_BY_HOP: Final = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "expect",
})
#: Never sent upstream: credentials (replaced by the forward token), browser and topology headers,
#: and what the sidecar sets itself. ``x-lava-metadata`` is here too, not only as a control header:
#: with identity.metadata_header renamed, a client's own copy would reach Lava beside the validated one.
_DROP_OUTBOUND: Final = HOP_BY_HOP | frozenset({
    "authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "origin", "referer",
    "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port",
    "x-real-ip", "accept-encoding", "x-lava-metadata",
})
#: Encodings the sidecar can decode to read usage; others are not offered upstream.
_DECODABLE: Final = ("gzip", "deflate", "identity")
#: Response headers not relayed: hop-by-hop (the server sets its own framing).
_DROP_INBOUND: Final = HOP_BY_HOP - {"content-length"}


def _raw(names: frozenset[str]) -> frozenset[bytes]:
    return frozenset(n.encode("ascii") for n in names)


# The same sets as the bytes the request path compares.
_DROP_OUTBOUND_RAW: Final = _raw(_DROP_OUTBOUND)
_DROP_INBOUND_RAW: Final = _raw(_DROP_INBOUND)
_HOP_BY_HOP_RAW: Final = _raw(HOP_BY_HOP)


def accept_encoding(client_value: str | None) -> str:
    """The client's ``Accept-Encoding`` restricted to encodings the usage reader can decode."""
    if not client_value:
        return "identity"
    kept = [part.strip() for part in client_value.split(",")
            if part.split(";", 1)[0].strip().lower() in _DECODABLE]
    return ", ".join(kept) if kept else "identity"


@lru_cache(maxsize=64)
def _offered(client_value: bytes | None) -> bytes:
    # Pure, and a deployment's clients send a handful of distinct values: worked out once each.
    return accept_encoding(None if client_value is None
                           else client_value.decode("latin-1")).encode("latin-1")


def outbound_fields(inbound: Iterable[Field], control: frozenset[bytes], token: str,
                    metadata: str | None) -> list[tuple[bytes, bytes]]:
    """Headers for the request to Lava, as (name, value) bytes: the client's fields the policy
    keeps, byte for byte and in order, then the ones the sidecar sets. ``control`` holds the
    lower-case X-Lava-* names to consume."""
    out: list[tuple[bytes, bytes]] = []
    client_accept: bytes | None = None
    drop = _DROP_OUTBOUND_RAW
    for lname, name, value in inbound:
        if lname in drop or lname in control:
            if lname == b"accept-encoding":
                client_accept = value
            continue
        out.append((name, value))
    out.append((b"Authorization", b"Bearer " + token.encode("ascii")))
    out.append((b"Accept-Encoding", _offered(client_accept)))
    if metadata is not None:
        out.append((b"x-lava-metadata", metadata.encode("ascii")))  # JSON with ensure_ascii
    return out


def response_fields(upstream: Iterable[Field], *, keep_length: bool) -> list[Field]:
    """Fields relayed to the client from Lava's response (``x-lava-request-id`` included)."""
    drop = _DROP_INBOUND_RAW if keep_length else _HOP_BY_HOP_RAW
    return [f for f in upstream if f[0] not in drop]


def outbound(inbound: Iterable[tuple[str, str]], control: frozenset[str], token: str,
             metadata: str | None) -> list[tuple[str, str]]:
    """``outbound_fields`` over text pairs (every byte kept: values go through UTF-8 with
    surrogateescape both ways)."""
    out = outbound_fields((field(n, v) for n, v in inbound), _raw(control), token, metadata)
    return [(n.decode("latin-1"), v.decode("utf-8", "surrogateescape")) for n, v in out]


def response_headers(upstream: Iterable[tuple[str, str]], *, keep_length: bool) -> list[tuple[str, str]]:
    """``response_fields`` over text pairs."""
    kept = response_fields((field(n, v) for n, v in upstream), keep_length=keep_length)
    return [(n.decode("latin-1"), v.decode("utf-8", "surrogateescape")) for _, n, v in kept]
