"""The three ``limits.*`` keys this package owns, typed and validated (every problem with its
dotted key, like the rest of the loader)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    # Only a type: ``proxy.config`` imports this module for ``Settings.bounds`` (a cycle otherwise).
    from ..config.fields import Reader

#: Above this a timeout is a typo (an hour is already far past any sane client).
_MAX_SECONDS: Final = 3600.0


@dataclass(frozen=True, slots=True)
class ClientBounds:
    #: From the first byte of a request head to its blank line.
    header_timeout: float = 10.0
    #: Longest silence between two bytes of a request body (while the sidecar is reading it).
    body_idle_timeout: float = 30.0
    #: Request bodies held in memory across all requests, in bytes.
    max_buffered_body_bytes: int = 256 * 1024 * 1024
    #: How long a body that does not fit waits for room before it is refused with a 503.
    buffer_wait: float = 1.0


def _seconds(r: Reader, name: str, default: float) -> float:
    value = r.get(name, float, default)
    if not 0 < value <= _MAX_SECONDS:
        r.problem(name, f"must be greater than 0 and at most {_MAX_SECONDS:.0f} seconds, got {value!r}")
        return default
    return value


def read_client_bounds(r: Reader, max_body_bytes: int) -> ClientBounds:
    """From the ``limits`` section's reader (before its ``finish``). ``max_body_bytes``: the
    largest body allowed, which the buffer cap must be able to hold."""
    d = ClientBounds()
    cap = r.get("max_buffered_body_bytes", int, d.max_buffered_body_bytes)
    if cap < max_body_bytes:
        r.problem("max_buffered_body_bytes",
                  f"must be at least limits.max_body_bytes ({max_body_bytes}), or a body of the "
                  f"largest allowed size could never be read; got {cap}")
        cap = max(d.max_buffered_body_bytes, max_body_bytes)
    return ClientBounds(
        header_timeout=_seconds(r, "header_timeout_seconds", d.header_timeout),
        body_idle_timeout=_seconds(r, "body_idle_timeout_seconds", d.body_idle_timeout),
        max_buffered_body_bytes=cap,
    )
