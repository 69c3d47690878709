"""Header policy: what crosses the sidecar in each direction, and what never does.

Outbound: provider feature headers (``anthropic-version``, ``anthropic-beta``, ``openai-beta``,
``openai-organization``, ``x-stainless-*``, …) pass byte for byte; hop-by-hop headers, browser
headers (``Origin``, ``Referer``, ``Cookie``: Anthropic treats them as CORS calls), proxy topology
(``X-Forwarded-*``), the app's own credential (``Authorization``, ``x-api-key``, Google's
``x-goog-api-key``) and the sidecar's ``X-Lava-*`` control headers do not.
The forward token is added by the sidecar only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

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


def accept_encoding(client_value: str | None) -> str:
    """The client's ``Accept-Encoding`` restricted to encodings the usage reader can decode."""
    if not client_value:
        return "identity"
    kept = [part.strip() for part in client_value.split(",")
            if part.split(";", 1)[0].strip().lower() in _DECODABLE]
    return ", ".join(kept) if kept else "identity"


def outbound(inbound: Iterable[tuple[str, str]], control: frozenset[str], token: str,
             metadata: str | None) -> list[tuple[str, str]]:
    """Headers for the request to Lava. ``control`` holds the lower-case X-Lava-* names to consume."""
    out: list[tuple[str, str]] = []
    client_accept: str | None = None
    for name, value in inbound:
        lname = name.lower()
        if lname in _DROP_OUTBOUND or lname in control:
            if lname == "accept-encoding":
                client_accept = value
            continue
        out.append((name, value))
    out.append(("Authorization", "Bearer " + token))
    out.append(("Accept-Encoding", accept_encoding(client_accept)))
    if metadata is not None:
        out.append(("x-lava-metadata", metadata))
    return out


def response_headers(upstream: Iterable[tuple[str, str]], *, keep_length: bool) -> list[tuple[str, str]]:
    """Headers relayed to the client from Lava's response (``x-lava-request-id`` included)."""
    drop = _DROP_INBOUND if keep_length else HOP_BY_HOP
    return [(n, v) for n, v in upstream if n.lower() not in drop]
