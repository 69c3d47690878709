"""The outbound hop's contract: what the handler needs from any HTTP client to Lava.

Two implementations: ``aiohttp_client`` (aiohttp's ClientSession) and ``lean`` (a small keep-alive
client on httptools, far cheaper per request). Both raise only ``UpstreamError``; both are run
through the same integration tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from types import MappingProxyType
from typing import Final, Protocol

from ..errors import GatewayTimeout, GatewayUnreachable, UpstreamFailed
from ..http1 import Field
from ..record import Outcome

#: Request bodies the clients accept: whole bytes (retryable), a one-shot stream, or nothing.
Body = bytes | AsyncIterator[bytes] | None
#: Where ``UpstreamResponse.stream_to`` hands each piece of the body.
Sink = Callable[[bytes], None]

#: Every failure reason (the ``reason`` label of ``lava_sidecar_upstream_errors_total``) → whether
#: the request may have left. A reason with ``False`` failed while the connection was being set up:
#: no byte of the request can have reached Lava, so nothing was billed and a retry cannot bill
#: twice. The one place that says so: the retry policy, the metric and the record's ``partial``
#: all read it here.
REASONS: Final[Mapping[str, bool]] = MappingProxyType({
    "dns": False, "connect": False, "tls": False, "timeout_connect": False,
    "reset": True, "protocol": True, "timeout_first_byte": True, "timeout_idle": True,
})

#: Waits before the 1st, 2nd, 3rd… retry of connection establishment (the last one repeats).
RETRY_BACKOFF: Final = (0.05, 0.2, 0.5)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based)."""
    return RETRY_BACKOFF[min(attempt, len(RETRY_BACKOFF) - 1)]


class UpstreamError(UpstreamFailed):
    """A failure talking to Lava, with a bounded ``reason`` (a key of ``REASONS``) for the metric."""

    def __init__(self, base: type[UpstreamFailed], reason: str, message: str) -> None:
        super().__init__(message)
        self.status = base.status  # type: ignore[misc]
        self.code = base.code  # type: ignore[misc]
        self.reason = reason

    @property
    def may_have_sent(self) -> bool:
        """Whether any byte of the request may have reached Lava (and been billed)."""
        # An unknown reason is a bug elsewhere; assuming "sent" never under-reports a bill.
        return REASONS.get(self.reason, True)

    @property
    def outcome(self) -> Outcome:  # type: ignore[override]
        return "timeout" if self.reason.startswith("timeout") else "upstream_error"


def unreachable(reason: str, detail: str) -> UpstreamError:
    return UpstreamError(
        GatewayUnreachable, reason,
        f"The Lava gateway could not be reached ({detail}). Check LAVA_GATEWAY_URL and the pod's "
        "network egress; the request was not sent, nothing was billed.")


def connect_timeout() -> UpstreamError:
    return UpstreamError(GatewayTimeout, "timeout_connect",
                         "Connecting to the Lava gateway timed out (gateway.connect_timeout_seconds); "
                         "the request was not sent.")


def first_byte_timeout() -> UpstreamError:
    return UpstreamError(GatewayTimeout, "timeout_first_byte",
                         "The Lava gateway did not start answering within "
                         "gateway.first_byte_timeout_seconds.")


def idle_timeout() -> UpstreamError:
    return UpstreamError(GatewayTimeout, "timeout_idle",
                         "The Lava gateway stopped sending in the middle of the response "
                         "(gateway.idle_timeout_seconds).")


def reset(*, sent: bool) -> UpstreamError:
    what = "after the request was sent; it was not retried" if sent else "before a response"
    return UpstreamError(GatewayUnreachable, "reset", f"The Lava gateway closed the connection {what}.")


def broken_body() -> UpstreamError:
    return UpstreamError(GatewayUnreachable, "reset",
                         "The Lava gateway's response broke off before it was complete.")


def protocol_error(detail: str) -> UpstreamError:
    return UpstreamError(GatewayUnreachable, "protocol",
                         f"The Lava gateway sent an invalid HTTP response ({detail}).")


class UpstreamResponse(Protocol):
    """An open response from Lava. Read its body once, pushed (``stream_to``, the relay) or pulled
    (``chunks()``); always ``close()`` (idempotent)."""

    @property
    def status(self) -> int: ...

    @property
    def reason(self) -> str: ...

    @property
    def raw_reason(self) -> bytes:
        """The reason phrase as received."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive lookups (``headers.get("content-type")``)."""
        ...

    @property
    def fields(self) -> list[Field]:
        """Every header as received, as bytes: (lower-case name, name, value), in order, repeats
        kept. What the relay passes on: nothing decoded."""
        ...

    @property
    def received_at(self) -> float:
        """``time.perf_counter()`` when the response headers arrived (for the overhead figure)."""
        ...

    def header_items(self) -> list[tuple[str, str]]:
        """Every header as received, in order, original casing, repeats kept."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes (transfer-decoded, content-encoding untouched) as they arrive.
        Raises ``UpstreamError`` on idle timeout or a broken body."""
        ...

    async def stream_to(self, sink: Sink) -> None:
        """Hand every piece of the body (as ``chunks()`` would yield it) to ``sink`` as it arrives;
        return at its end, or when ``stop`` was called; raise ``UpstreamError`` on idle timeout
        or a broken body. The lean client calls ``sink`` from its connection's own callback, with
        no future and no coroutine resumed per piece: ``sink`` must not block. It applies
        back-pressure with ``pause_reading``/``resume_reading``. Cancelled, the connection is
        dropped (the rest of the body is still on the wire)."""
        ...

    def stop(self) -> None:
        """End ``stream_to`` now (from ``sink``: its client left); nothing more is handed over."""
        ...

    def close(self, *, reusable: bool) -> None:
        """Return the connection to the pool when the body was read to the end, else drop it."""
        ...

    def pause_reading(self) -> None:
        """Stop reading from Lava: the client is not taking what was already relayed (its write
        buffer is above the high-water mark). What sits in the socket waits in the kernel."""
        ...

    def resume_reading(self) -> None:
        """The client's write buffer drained below the low-water mark: read from Lava again."""
        ...


class UpstreamClient(Protocol):
    """Sends requests to Lava's forward endpoint over pooled keep-alive connections.

    ``open`` waits for the response headers (bounded by the first-byte timeout). Only connection
    *establishment* is retried: once a byte of the request may have left, a failure is final,
    because replaying it could bill the customer twice.
    """

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def open(self, method: str, url: str, headers: list[tuple[bytes, bytes]],
                   body: Body) -> UpstreamResponse:
        """``headers``: (name, value) as the bytes to send, in order."""
        ...
