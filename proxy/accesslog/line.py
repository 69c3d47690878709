"""``AccessLog``: the completion hook that writes one access line per request."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, Literal

from ..redact import redact_text

if TYPE_CHECKING:
    from ..pipeline.context import RequestContext
    from ..record import RequestRecord

#: Longest path kept in a line: a client's 8 KiB target must not make an 8 KiB log line.
MAX_PATH: Final = 256


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def access_fields(ctx: RequestContext, rec: RequestRecord) -> dict[str, object]:
    """The line's fields, in order; ``None`` where a value is unknown (no Lava answer, no identity)."""
    return {
        "method": ctx.method,
        "path": redact_text(ctx.path.partition("?")[0][:MAX_PATH]),
        "status": rec.status,
        "duration_ms": _ms(rec.duration),
        "ttfb_ms": _ms(rec.ttfb),
        "request_id": rec.request_id,
        "lava_request_id": rec.lava_request_id,
        "customer": None if rec.customer_id is None else redact_text(rec.customer_id),
        "meter": None if rec.meter_slug is None else redact_text(rec.meter_slug),
        "bytes_out": ctx.bytes_out,
        "outcome": rec.outcome,
        "error_code": rec.error_code,
    }


class AccessLog:
    """A ``CompletionHook``. ``format`` is ``logging.format``: the handler formats JSON lines
    (``extra`` fields become keys), so only the text form spells the fields into the message."""

    __slots__ = ("_json", "_log")

    def __init__(self, fmt: Literal["json", "text"], logger: logging.Logger | None = None) -> None:
        self._log = logger if logger is not None else logging.getLogger("lava_sidecar.access")
        self._json = fmt == "json"

    def complete(self, ctx: RequestContext, rec: RequestRecord) -> None:
        if not self._log.isEnabledFor(logging.INFO):
            return
        fields = access_fields(ctx, rec)
        method, path, status = fields["method"], fields["path"], fields["status"]
        if self._json:
            self._log.info('"%s %s" %d', method, path, status, extra=fields)
            return
        rest = " ".join(f"{k}={'-' if v is None else v}" for k, v in fields.items()
                        if k not in _IN_REQUEST_LINE)
        self._log.info('"%s %s" %d %s', method, path, status, rest)


_IN_REQUEST_LINE: Final = frozenset({"method", "path", "status"})
