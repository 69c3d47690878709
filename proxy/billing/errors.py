"""Errors from Lava's REST API, one class per kind of failure, each carrying Lava's message, the
HTTP status and Lava's error code (when it sent one). Rooted in ``SidecarError``.

    LavaError
    ├── LavaConfigError          no secret key, bad base URL (before any call)
    ├── LavaValidationError      400, 409, 422: the request was refused as malformed
    ├── LavaAuthError            401, 403: the secret key is wrong or not allowed
    ├── LavaPaymentRequired      402: no balance / credit left
    ├── LavaNotFound             404
    ├── LavaRateLimited          429
    ├── LavaServerError          5xx and any other unexpected status
    ├── LavaConnectionError      no HTTP answer at all (refused, reset, DNS)
    │   └── LavaTimeout          connect / read / write / pool timeout
    └── LavaProtocolError        an answer that is not the JSON Lava documents
"""

from __future__ import annotations

from ..errors import SidecarError


class LavaError(SidecarError):
    status = 0
    code = "lava_error"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        # Instance values: the status and code Lava actually sent, not just the class default.
        if status is not None:
            self.status = status  # type: ignore[misc]
        if code is not None:
            self.code = code  # type: ignore[misc]

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no HTTP answer"
        return f"{self.message} ({where}, {self.code})"


class LavaConfigError(LavaError):
    code = "config_invalid"


class LavaValidationError(LavaError):
    status = 400
    code = "invalid_request"


class LavaAuthError(LavaError):
    status = 401
    code = "unauthorized"


class LavaPaymentRequired(LavaError):
    status = 402
    code = "insufficient_balance"


class LavaNotFound(LavaError):
    status = 404
    code = "not_found"


class LavaRateLimited(LavaError):
    status = 429
    code = "rate_limited"


class LavaServerError(LavaError):
    status = 500
    code = "server_error"


class LavaConnectionError(LavaError):
    code = "connection_failed"


class LavaTimeout(LavaConnectionError):
    code = "timeout"


class LavaProtocolError(LavaError):
    code = "unexpected_response"


def for_status(status: int) -> type[LavaError]:
    """The class for an error status Lava answered with."""
    if status in (400, 409, 422):
        return LavaValidationError
    if status in (401, 403):
        return LavaAuthError
    return {402: LavaPaymentRequired, 404: LavaNotFound, 429: LavaRateLimited}.get(
        status, LavaServerError)
