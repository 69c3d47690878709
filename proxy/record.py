"""``RequestRecord``: everything known about one finished request, handed to the recorder once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .usage.base import Api, Usage

#: How a request ended. A fixed set: it is a metric label.
Outcome = Literal[
    "ok",                 # Lava answered with a success status (< 400); the client got all of it
    "upstream_refused",   # Lava answered with an error status (>= 400: its own 400/401/402/403
                          # refusals, or the provider's errors it relays); the client got all of it
    "rejected",           # refused by the sidecar before any upstream call (identity, route, size…)
    "rate_limited",       # refused by a customer quota before any upstream call (never billed)
    "upstream_error",     # connect failure / reset / protocol error talking to Lava
    "timeout",            # connect, first-byte or idle timeout
    "client_disconnect",  # the client went away before the response was complete
    "shutdown",           # still running when the shutdown grace ended: cut by the sidecar
]


@dataclass(slots=True)
class RequestRecord:
    """One finished request. Treat as immutable; not ``frozen`` only because a frozen
    dataclass's ``__init__`` costs ~6 µs for these twenty fields against ~2 µs (timeit), and one
    is built for every request."""

    request_id: str                 # the sidecar's id (x-lava-sidecar-request-id)
    lava_request_id: str | None     # Lava's x-lava-request-id, when the gateway answered
    started_at: float               # unix seconds, wall clock
    customer_id: str | None         # None: billed to the merchant (or refused before identity)
    meter_slug: str | None
    identity_via: str               # header | api_key | default | merchant | mcp | none
    provider: str                   # configured provider name, "" when no route matched
    api: Api
    model: str | None               # requested model, else the model the response named
    status: int                     # HTTP status the client received (0: none was sent)
    stream: bool
    usage: Usage
    partial: bool                   # the response ended early: usage is what was seen
    outcome: Outcome
    duration: float                 # seconds, request received → last byte relayed
    ttfb: float | None              # seconds, request received → first body byte relayed
    overhead: float | None          # seconds the sidecar itself added before the first byte
    error_code: str | None = None   # our stable error code when the sidecar produced the error
    upstream_error: str | None = None  # bounded reason (connect, dns, reset, timeout_idle, …)
    extractor_error: bool = False   # the usage reader failed; usage is what it saw before
