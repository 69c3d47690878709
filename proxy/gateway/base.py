"""The outbound hop's contract: what the handler needs from any HTTP client to Lava.

Two implementations: ``aiohttp_client`` (aiohttp's ClientSession) and ``lean`` (a small keep-alive
client on httptools, far cheaper per request). Both raise only ``UpstreamError``; both are run
through the same integration tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from ..errors import GatewayTimeout, GatewayUnreachable, UpstreamFailed

#: Request bodies the clients accept: whole bytes (retryable), a one-shot stream, or nothing.
Body = bytes | AsyncIterator[bytes] | None

#: Bounded reasons, the ``reason`` label of ``lava_sidecar_upstream_errors_total``.
REASONS = ("connect", "dns", "tls", "reset", "protocol", "timeout_connect", "timeout_first_byte",
           "timeout_idle")


class UpstreamError(UpstreamFailed):
    """A failure talking to Lava, with a bounded ``reason`` for the metric."""

    def __init__(self, base: type[UpstreamFailed], reason: str, message: str) -> None:
        super().__init__(message)
        self.status = base.status  # type: ignore[misc]
        self.code = base.code  # type: ignore[misc]
        self.reason = reason


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
    """An open response from Lava. Iterate ``chunks()`` once; always ``close()`` (idempotent)."""

    @property
    def status(self) -> int: ...

    @property
    def reason(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive lookups (``headers.get("content-type")``)."""
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

    def close(self, *, reusable: bool) -> None:
        """Return the connection to the pool when the body was read to the end, else drop it."""
        ...


class UpstreamClient(Protocol):
    """Sends requests to Lava's forward endpoint over pooled keep-alive connections.

    ``open`` waits for the response headers (bounded by the first-byte timeout). Only connection
    *establishment* is retried: once a byte of the request may have left, a failure is final,
    because replaying it could bill the customer twice.
    """

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def open(self, method: str, url: str, headers: list[tuple[str, str]],
                   body: Body) -> UpstreamResponse: ...
