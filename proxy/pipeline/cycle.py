"""The proxy route: identity → routing → token → gateway → relay → record. Thin by design.

``finally`` runs on success, upstream failure and client disconnect alike, and hands exactly one
``RequestRecord`` to the sink; nothing slow is awaited there.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from time import perf_counter

from aiohttp import web

from ..errors import (
    ERROR_CODE_HEADER,
    BodyTooLarge,
    Shape,
    SidecarError,
    UsageLogUnavailable,
    render,
)
from ..gateway import UpstreamError, UpstreamResponse
from ..headers import outbound, response_headers
from ..identity import Resolved, merge_metadata
from ..inbound import Exchange, reason_phrase
from ..record import Outcome, RequestRecord
from ..routing import Route, shape_for_path
from ..runtime import Runtime, is_shutdown_cut, shutting_down, uncancel
from ..usage import estimate, make_extractor
from ..usage.base import MISSING, Api, RequestFacts, Usage
from ..usage.request import inspect
from ..usage.strip import UsageChunkStripper
from .relay import RelayState, relay

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)
log = logging.getLogger("lava_sidecar.handler")

REQUEST_ID_HEADER = "x-lava-sidecar-request-id"
OVERHEAD_HEADER = "x-lava-sidecar-overhead-ms"
#: Bodies up to this size are read whole (to learn model and stream flags); larger non-JSON bodies
#: (multipart uploads) stream straight through.
_BUFFER_LIMIT = 1024 * 1024
#: Upstream failures that happen before a byte of the request can have left.
_NOT_SENT = frozenset({"connect", "dns", "tls", "timeout_connect"})


async def read_body(ex: Exchange, limit: int) -> bytes | AsyncIterator[bytes]:
    declared = ex.content_length
    too_big = BodyTooLarge(f"The request body is larger than the sidecar's limit of {limit} bytes "
                           "(limits.max_body_bytes).")
    if declared is not None and declared > limit:
        raise too_big
    if (declared is None or declared > _BUFFER_LIMIT) and "json" not in ex.headers.get("Content-Type", ""):
        return _stream_body(ex, limit, too_big)
    if ex.body_complete:
        # The usual case: the body came in the same packets as the head.
        body = ex.take_body()
        if len(body) > limit:
            raise too_big
        return body
    chunks: list[bytes] = []
    size = 0
    while chunk := await ex.read():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def _stream_body(ex: Exchange, limit: int, too_big: BodyTooLarge) -> AsyncIterator[bytes]:
    size = 0
    while chunk := await ex.read():
        size += len(chunk)
        if size > limit:
            raise too_big
        yield chunk


def _respond_error(ex: Exchange, shape: Shape, err: SidecarError, request_id: str) -> None:
    ex.respond(err.status, reason_phrase(err.status),
               [("Content-Type", "application/json"), (ERROR_CODE_HEADER, err.code),
                (REQUEST_ID_HEADER, request_id)], render(shape, err))


def make_handler(rt: Runtime) -> Callable[[Exchange], Awaitable[None]]:
    """The proxy's one handler, bound to its runtime: served for every path by the inbound server
    (``listener.ProxyServer``, no router)."""
    return functools.partial(handle, rt)


async def handle(rt: Runtime, ex: Exchange) -> None:
    settings = rt.settings
    # perf_counter, not loop.time(): uvloop caches the loop clock per iteration, so durations
    # measured within one iteration would read zero.
    t0, wall = perf_counter(), time.time()
    request_id = rt.ids.next()
    rt.inflight.requests += 1
    # Known to the shutdown, which ends what is still running at the end of its grace.
    task = asyncio.current_task()
    if task is not None:
        rt.inflight.tasks.add(task)
    route: Route | None = None
    resolved: Resolved | None = None
    facts = RequestFacts(api=Api.OTHER)
    st = RelayState()
    usage: Usage = MISSING
    body: bytes | AsyncIterator[bytes] = b""
    extractor = None
    up: UpstreamResponse | None = None
    upstream_at: float | None = None
    status, outcome = 0, "ok"
    error: SidecarError | None = None
    shape: Shape = shape_for_path(ex.raw_path)
    try:
        route = rt.router.resolve(ex.raw_path)
        shape = route.shape
        resolved = rt.identity.resolve(ex.headers, route.provider.provider_key)
        md_header = ex.headers.get(settings.identity.metadata_header) \
            if settings.allow_metadata_header else None
        metadata = merge_metadata(settings.static_metadata, md_header)
        if settings.usage_log.on_error == "reject" and not rt.usage_log_healthy():
            raise UsageLogUnavailable(
                "The sidecar cannot write its usage log and is configured to refuse traffic it "
                "cannot record (usage_log.on_error: reject). Check the log volume.")
        body = await read_body(ex, settings.limits.max_body_bytes)
        if isinstance(body, bytes):
            facts, body = inspect(route.api, body, ex.headers.get("Content-Type"),
                                  inject_stream_usage=route.provider.inject_stream_usage)
        else:
            facts = RequestFacts(api=route.api)
        headers = outbound(ex.headers.items(), rt.control_headers,
                           rt.tokens.get(resolved.billing), metadata)
        upstream_at = perf_counter()
        up = await rt.gateway.open(ex.method, rt.router.forward_url(route.upstream_url), headers, body)
        ctype = up.headers.get("Content-Type")
        is_sse = ctype is not None and ctype.startswith("text/event-stream")
        extractor = make_extractor(facts, route.provider.family, ctype,
                                   up.headers.get("Content-Encoding"),
                                   max_line_bytes=settings.limits.max_sse_line_bytes)
        stripper = UsageChunkStripper() if facts.usage_injected and is_sse else None
        out_headers = response_headers(up.header_items(), keep_length=stripper is None)
        out_headers.append((REQUEST_ID_HEADER, request_id))
        # Known before the first byte: the time spent here before the request left.
        out_headers.append((OVERHEAD_HEADER, f"{(upstream_at - t0) * 1000:.3f}"))
        status = up.status
        if is_sse:
            rt.inflight.streams += 1
        try:
            await relay(ex, up, st, headers=out_headers, extractor=extractor,
                               stripper=stripper, shape=shape, is_sse=is_sse)
        finally:
            if is_sse:
                rt.inflight.streams -= 1
        if st.error is not None:
            error, outcome = st.error, _outcome_of(st.error)
        elif st.shutdown:
            error, outcome = shutting_down(), "shutdown"
        elif st.client_gone:
            outcome = "client_disconnect"
    except SidecarError as err:
        error = err
        outcome = _outcome_of(err)
        status = err.status
        _respond_error(ex, shape, err, request_id)
    except asyncio.CancelledError as exc:
        if not is_shutdown_cut(exc) or st.started:
            # handler_cancellation: the client went away while we waited on Lava or on its body.
            outcome = "shutdown" if is_shutdown_cut(exc) else "client_disconnect"
            raise
        # The shutdown grace ended while this request waited: answer it, in its API's shape.
        uncancel()
        error, outcome = shutting_down(), "shutdown"
        status = error.status
        _respond_error(ex, shape, error, request_id)
    finally:
        rt.inflight.requests -= 1
        if task is not None:
            rt.inflight.tasks.discard(task)
        if up is not None:
            up.close(reusable=st.upstream_done)
        if extractor is not None:
            try:
                usage = extractor.finish()
            except Exception:
                log.exception("usage extractor failed at the end of the response")
                st.extractor_failed = True
            # Opt-in only (usage.estimate_missing): a labelled guess beats a silent zero there.
            if settings.estimate_missing_usage and usage.source != "provider" and isinstance(body, bytes):
                usage = estimate(facts, body, usage)
        end = perf_counter()
        first = st.first_byte_at
        billing = resolved.billing if resolved is not None else None
        rt.sink.record(RequestRecord(
            request_id=request_id,
            lava_request_id=up.headers.get("x-lava-request-id") if up is not None else None,
            started_at=wall,
            customer_id=billing.customer_id if billing else None,
            meter_slug=billing.meter_slug if billing else None,
            identity_via=resolved.via if resolved is not None else "none",
            provider=route.provider.name if route is not None else "",
            api=route.api if route is not None else Api.OTHER,
            model=facts.model or usage.model,
            status=status,
            stream=facts.stream,
            usage=usage,
            partial=_may_have_reached_lava(upstream_at, error) and not (st.upstream_done
                                                                         and st.client_done),
            outcome=outcome,  # type: ignore[arg-type]
            duration=end - t0,
            ttfb=(first - t0) if first is not None else None,
            overhead=_overhead(t0, upstream_at, up, st),
            error_code=error.code if error is not None else None,
            upstream_error=error.reason if isinstance(error, UpstreamError) else None,
            extractor_error=st.extractor_failed,
        ))


def _may_have_reached_lava(upstream_at: float | None, error: SidecarError | None) -> bool:
    """Whether Lava may have served (and billed) this request. When it may have and the answer did
    not arrive whole, the record's usage is only what was seen: it is partial."""
    if upstream_at is None:
        return False
    return not (isinstance(error, UpstreamError) and error.reason in _NOT_SENT)


def _outcome_of(err: SidecarError) -> Outcome:
    if isinstance(err, UpstreamError):
        return "timeout" if err.reason.startswith("timeout") else "upstream_error"
    return "rejected"


def _overhead(t0: float, upstream_at: float | None, up: UpstreamResponse | None,
              st: RelayState) -> float | None:
    """Time spent in the sidecar before the request left plus after the response headers came."""
    if upstream_at is None or up is None or st.headers_at is None:
        return None
    return (upstream_at - t0) + max(0.0, st.headers_at - up.received_at)
