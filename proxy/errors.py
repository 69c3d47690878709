"""The one error hierarchy, and the error bodies it renders in the caller's API shape.

    SidecarError                    anything the sidecar itself refuses or fails at
    ├── ConfigError                 settings that do not validate (every problem listed)
    ├── ShuttingDown                the shutdown grace ended before the request did (503)
    ├── BodyBufferFull              request bodies in memory at limits.max_buffered_body_bytes (503)
    ├── RequestRejected             the caller's request cannot be served (4xx)
    │   ├── IdentityError           no customer / malformed customer or meter (400, 401)
    │   ├── RouteNotFound           no configured provider serves this path (404)
    │   ├── MethodNotAllowed        an admin path asked with a method it does not answer (405)
    │   ├── BodyTooLarge            body over the configured limit (413)
    │   ├── HeadTooLarge            request line or headers over the limits (431)
    │   ├── UriTooLong              the admin listener's request target over its limit (414)
    │   ├── InvalidHttp             not valid HTTP/1.1 (400)
    │   ├── MetadataInvalid         X-Lava-Metadata breaks Lava's rules (400)
    │   ├── RequestTimeout          the client was too slow sending its request (408)
    │   │   ├── HeadTimeout         the head not complete within limits.header_timeout_seconds
    │   │   └── BodyTimeout         the body stalled beyond limits.body_idle_timeout_seconds
    │   └── QuotaExceeded           a customer quota refuses the request (429, retry-after)
    └── UpstreamFailed              the hop to Lava failed (5xx)
        ├── GatewayUnreachable      connect refused, DNS, reset before a response (502)
        ├── GatewayTimeout          connect / first byte / idle timeout (504)
        ├── UsageLogUnavailable     fail-closed policy and the usage log cannot be written (503)
        └── QuotaBackendUnavailable fail-closed quota policy and Redis cannot answer in time (503)

Responses from Lava or the provider (401, 402, 429, 5xx with a body) are relayed as they are,
never raised. Third-party exceptions are mapped to these at the boundary with ``raise … from``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Final, Literal

from .record import Outcome

Shape = Literal["openai", "anthropic", "gemini"]

#: Header naming the stable error code on every error the sidecar itself produces.
ERROR_CODE_HEADER = "x-lava-sidecar-error"


class SidecarError(Exception):
    """Base class. ``status`` and ``code`` are stable; ``message`` is a sentence a person can act on."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "sidecar_error"
    #: How a request that ends in this error is recorded (``RequestRecord.outcome``).
    outcome: ClassVar[Outcome] = "rejected"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def headers(self) -> list[tuple[str, str]]:
        """Response headers this error adds to its answer beyond the code header (none here)."""
        return []


@dataclass(frozen=True, slots=True)
class Problem:
    """One config problem: the dotted key it concerns and what is wrong with it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(SidecarError):
    """The settings do not validate. Carries every problem found, not just the first."""

    code = "config_invalid"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"{n} configuration problem{'' if n == 1 else 's'}:\n{lines}")


class ShuttingDown(SidecarError):
    status = 503
    code = "shutting_down"
    outcome = "shutdown"


class BodyBufferFull(SidecarError):
    """Taking this body would put the request bodies held in memory over the cap; the request
    waited briefly for room first. Nothing was sent; retrying in a moment usually succeeds."""

    status = 503
    code = "request_buffer_full"

    def headers(self) -> list[tuple[str, str]]:
        return [("retry-after", "1")]


class RequestRejected(SidecarError):
    status = 400
    code = "invalid_request"


class IdentityError(RequestRejected):
    """No customer could be determined, or the one given is malformed."""

    status = 401
    code = "customer_missing"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        # Instance overrides keep one class for the several identity refusals.
        if code is not None:
            self.code = code  # type: ignore[misc]
        if status is not None:
            self.status = status  # type: ignore[misc]


class UsageQueryInvalid(RequestRejected):
    """A ``/usage`` query the admin listener cannot answer (a malformed customer, limit or cursor)."""

    code = "usage_query_invalid"

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]


class RouteNotFound(RequestRejected):
    status = 404
    code = "route_not_found"


class MethodNotAllowed(RequestRejected):
    status = 405
    code = "method_not_allowed"


class BodyTooLarge(RequestRejected):
    status = 413
    code = "request_too_large"


class HeadTooLarge(RequestRejected):
    status = 431
    code = "request_header_too_large"


class UriTooLong(RequestRejected):
    status = 414
    code = "request_uri_too_long"


class InvalidHttp(RequestRejected):
    code = "invalid_http"


class MetadataInvalid(RequestRejected):
    code = "metadata_invalid"


class RequestTimeout(RequestRejected):
    """The client sent its request too slowly. Refused like any other request the sidecar will not
    serve (``rejected``, counted by its code): nothing was sent to Lava for it."""

    status = 408
    code = "request_timeout"


class HeadTimeout(RequestTimeout):
    code = "request_header_timeout"


class BodyTimeout(RequestTimeout):
    code = "request_body_timeout"


QuotaKind = Literal["requests", "tokens", "concurrency", "spend"]
#: The SDKs honour ``retry-after`` only up to about a minute; past that they would retry at once
#: with their own backoff, so a longer wait is sent with ``x-should-retry: false`` (both SDKs obey it).
_SDK_RETRY_HORIZON: Final = 60.0


class QuotaExceeded(RequestRejected):
    """A customer (or customer-on-meter) quota refuses the request; nothing was sent or counted.

    ``retry_after`` is seconds until the limit frees if the customer sends nothing more: for a
    spend or token window that can be hours, not "a second".
    """

    status = 429
    outcome = "rate_limited"

    def __init__(self, message: str, *, kind: QuotaKind, limit: int | Decimal,
                 retry_after: float) -> None:
        super().__init__(message)
        self.kind: QuotaKind = kind
        self.limit = limit
        self.retry_after = max(retry_after, 0.001)
        self.code = f"customer_{kind}_exceeded"  # type: ignore[misc]

    def headers(self) -> list[tuple[str, str]]:
        seconds = self.retry_after
        out = [("retry-after", str(math.ceil(seconds))), ("retry-after-ms", str(math.ceil(seconds * 1000)))]
        if seconds > _SDK_RETRY_HORIZON:
            out.append(("x-should-retry", "false"))
        return out


class UpstreamFailed(SidecarError):
    status = 502
    code = "upstream_failed"


class GatewayUnreachable(UpstreamFailed):
    status = 502
    code = "gateway_unreachable"


class GatewayTimeout(UpstreamFailed):
    status = 504
    code = "gateway_timeout"


class UsageLogUnavailable(UpstreamFailed):
    status = 503
    code = "usage_log_unavailable"


class QuotaBackendUnavailable(UpstreamFailed):
    """``on_backend_error: reject`` and the quota store (Redis) failed or answered too late."""

    status = 503
    code = "quota_backend_unavailable"


# OpenAI and Anthropic name their error types differently; both SDKs map on the HTTP status,
# the type string is what a human reads in the exception.
_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                 413: "invalid_request_error", 429: "rate_limit_exceeded"}
_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                    403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                    431: "invalid_request_error",
                    429: "rate_limit_error", 529: "overloaded_error"}


# Google's APIs answer ``{"error": {"code", "message", "status"}}`` with a google.rpc status name
# (what google-genai's APIError reads); the stable code rides in an ErrorInfo ``reason``.
_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                  404: "NOT_FOUND", 408: "DEADLINE_EXCEEDED", 409: "ABORTED",
                  429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
                  501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
                  504: "DEADLINE_EXCEEDED"}
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def error_body(shape: Shape, status: int, code: str, message: str) -> bytes:
    """Render an error body the way the caller's SDK expects to parse it (OpenAI, Anthropic or
    Google's shape).

    >>> error_body("anthropic", 404, "route_not_found", "No route.")
    b'{"type":"error","error":{"type":"not_found_error","message":"No route.","code":"route_not_found"}}'
    """
    if shape == "anthropic":
        etype = _ANTHROPIC_TYPES.get(status, "api_error")
        doc: dict[str, object] = {
            "type": "error",
            "error": {"type": etype, "message": message, "code": code},
        }
    elif shape == "gemini":
        gstatus = _GOOGLE_STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
        doc = {"error": {"code": status, "message": message, "status": gstatus, "details": [
            {"@type": _ERROR_INFO, "reason": code, "domain": "lava-sidecar"}]}}
    else:
        etype = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        doc = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def render(shape: Shape, err: SidecarError) -> bytes:
    """The body for one of our own errors."""
    return error_body(shape, err.status, err.code, err.message)


def refusal(shape: Shape, err: SidecarError) -> tuple[list[tuple[str, str]], bytes]:
    """The headers and body that answer one of our own errors in the caller's API shape: the one
    place every refusal is built (the request pipeline and the inbound server's own)."""
    return [("Content-Type", "application/json"), (ERROR_CODE_HEADER, err.code),
            *err.headers()], render(shape, err)
