"""aiohttp's server for the admin listener, made to refuse the way the rest of the sidecar does.

aiohttp answers what it cannot parse (a request line or header over its limits, bytes that are not
HTTP) itself, before any handler or middleware runs: a ``text/plain`` 400 quoting the first 100
bytes of the offending line, and an error-level traceback per request. On a listener anyone on the
pod network can reach, that is a log flood on demand. ``AdminRunner`` serves an app with a
``RequestHandler`` whose ``handle_error`` answers JSON (``{"error": {"code", "message"}}`` and the
``x-lava-sidecar-error`` header, never a byte of the request) and logs one info line per
``logthrottle.INTERVAL`` with a count of the refusals it left out.

Status: a request target over ``MAX_REQUEST_LINE`` is 414 (RFC 9110 §15.5.15: the target URI is
longer than the server will interpret; it is the query, ``/usage?customer=…``, that is long); a
header line over ``MAX_HEADER_FIELD`` is 431 (RFC 6585 §5); anything else unparsable is 400.
aiohttp raises the same ``LineTooLong`` for both lines, naming the limit it hit, so the two limits
differ on purpose: the limit tells which line it was.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong

from .errors import ERROR_CODE_HEADER, HeadTooLarge, InvalidHttp, SidecarError, UriTooLong
from .logthrottle import ThrottledLog

log = logging.getLogger("lava_sidecar.admin")

#: The longest request line the admin listener reads. Its longest legitimate target is
#: ``/usage?customer=`` with a 128-character id, percent-encoded at worst: well under this.
MAX_REQUEST_LINE: Final = 4096
#: The longest header line (aiohttp's default); differs from ``MAX_REQUEST_LINE``, see above.
MAX_HEADER_FIELD: Final = 8190


def refusal_for(status: int, exc: BaseException | None) -> SidecarError:
    """What aiohttp's server failed at, as one of our errors (pure)."""
    if status >= 500:
        return SidecarError("The admin listener failed on this request; its log says why. "
                            "Retry; report it if it persists.")
    if isinstance(exc, LineTooLong):
        limit = str(exc.args[1]) if len(exc.args) > 1 else ""
        if limit == str(MAX_REQUEST_LINE):
            return UriTooLong(f"The request line is longer than {MAX_REQUEST_LINE} bytes. The admin "
                              "listener serves /metrics, /healthz, /readyz and /usage?customer=ID "
                              "(an id of at most 128 characters).")
        return HeadTooLarge(f"A request header is longer than {MAX_HEADER_FIELD} bytes; send "
                            "shorter headers.")
    return InvalidHttp("The request is not valid HTTP/1.1; send a plain GET such as "
                       "GET /metrics HTTP/1.1.")


def error_json(err: SidecarError) -> bytes:
    """The admin listener's error body: the same shape as ``/usage``'s own refusals."""
    return json.dumps({"error": {"code": err.code, "message": err.message}},
                      separators=(",", ":")).encode()


def error_response(err: SidecarError, **headers: str) -> web.Response:
    return web.Response(status=err.status, body=error_json(err), content_type="application/json",
                        headers={ERROR_CODE_HEADER: err.code, **headers})


class _AdminRequestHandler(web.RequestHandler):
    """One admin connection: aiohttp's, with JSON refusals and throttled logging."""

    __slots__ = ("refusals",)
    refusals: ThrottledLog

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        # ``message`` is aiohttp's text, which quotes the request: never used.
        err = refusal_for(status, exc)
        if err.status >= 500:
            self.refusals.log(logging.ERROR, "admin listener: request failed",
                              extra={"status": err.status, "code": err.code}, exc_info=exc)
        else:
            self.refusals.log(logging.INFO, "admin listener: request refused",
                              extra={"status": err.status, "code": err.code,
                                     "remote": request.remote})
        if request.writer.output_size > 0:  # as aiohttp: too late for another response
            raise ConnectionError("response already started; cannot send the error response")
        resp = error_response(err)
        resp.force_close()
        return resp

    def log_exception(self, *args: Any, **kw: Any) -> None:
        # aiohttp's other error paths (outside any handler): tracebacks kept, floods not.
        exc = kw.get("exc_info")
        self.refusals.log(logging.ERROR, "admin listener: " + str(args[0] if args else "error"),
                          exc_info=exc if isinstance(exc, BaseException) else None)


class _AdminServer(web.Server):
    """aiohttp's protocol factory, building ``_AdminRequestHandler``s that share one throttle."""

    def __init__(self, built: web.Server, refusals: ThrottledLog) -> None:
        # Everything the runner configured (handler, request factory, limits, access log) is
        # taken from the server aiohttp built; only the per-connection class differs.
        super().__init__(built.request_handler, request_factory=built.request_factory,
                         handler_cancellation=built.handler_cancellation, loop=built._loop,
                         **built._kwargs)
        self.refusals = refusals

    def __call__(self) -> web.RequestHandler:
        handler = _AdminRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.refusals = self.refusals
        return handler


class AdminRunner(web.AppRunner):
    """``web.AppRunner`` for the admin app: no signal handling or access log (as before), the
    admin limits above, and ``_AdminRequestHandler`` connections."""

    def __init__(self, app: web.Application, *, refusals: ThrottledLog | None = None) -> None:
        super().__init__(app, handle_signals=False, access_log=None,
                         max_line_size=MAX_REQUEST_LINE, max_field_size=MAX_HEADER_FIELD)
        self.refusals = refusals if refusals is not None else ThrottledLog(log)

    async def _make_server(self) -> web.Server:
        return _AdminServer(await super()._make_server(), self.refusals)
