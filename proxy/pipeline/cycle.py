"""One request through the sidecar, as phases: ``admit`` → ``forward`` → ``finish``.

``RequestCycle`` holds the request (the inbound ``Exchange``, its ``RequestContext`` and the open
upstream response); each phase is one method, the way uvicorn's ``RequestResponseCycle`` and
ai-gateway's per-phase processor split theirs. ``handle`` keeps only the try/except/finally that
guarantees exactly one ``RequestRecord`` per request, on success, refusal, upstream failure,
client disconnect and shutdown alike; nothing slow is awaited in ``finish``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from time import perf_counter

from ..errors import SidecarError, UsageLogUnavailable, refusal
from ..gateway import UpstreamResponse
from ..headers import outbound_fields, response_fields
from ..http1 import field
from ..identity import merge_metadata
from ..inbound import Exchange, reason_phrase
from ..probe import answered_probe
from ..record import RequestRecord
from ..routing import shape_for_path
from ..usage import estimate, inspect
from ..usage.base import Extractor, RequestFacts
from ..usage.select import EVENT_STREAM, mime_of, readers_for
from .body import read_body
from .context import RequestContext, to_record
from .relay import relay
from .runtime import Runtime, is_shutdown_cut, shutting_down, uncancel

log = logging.getLogger("lava_sidecar.pipeline")

REQUEST_ID_HEADER = "x-lava-sidecar-request-id"
OVERHEAD_HEADER = "x-lava-sidecar-overhead-ms"
_REQUEST_ID_RAW = REQUEST_ID_HEADER.encode("ascii")
_OVERHEAD_RAW = OVERHEAD_HEADER.encode("ascii")


class RequestCycle:
    """One request's phases; each leaves what it learned on ``ctx``."""

    __slots__ = ("body", "body_held", "ctx", "ex", "extractor", "metadata", "rt", "up")

    def __init__(self, rt: Runtime, ex: Exchange) -> None:
        self.rt, self.ex = rt, ex
        # The shape is the route's once resolved (``admit``); ``refuse`` guesses it from the path
        # only for a request refused before that.
        self.ctx = RequestContext(rt.ids.next(), time.time(), perf_counter(), ex.method, ex.raw_path,
                                  ex.headers, "openai")
        self.metadata: str | None = None
        self.body: bytes | AsyncIterator[bytes] = b""
        self.body_held = 0  # room the body holds in rt.body_budget, given back in finish
        self.extractor: Extractor | None = None
        self.up: UpstreamResponse | None = None

    async def admit(self) -> None:
        """Where it goes, who pays, what rides along. A refusal raised here happens before anything
        has left for Lava: nothing is billed."""
        rt, ex, ctx = self.rt, self.ex, self.ctx
        settings = rt.settings
        route = ctx.route = rt.router.resolve(ex.raw_path)
        ctx.shape = route.shape
        ctx.resolved = rt.identity.resolve(ex.headers, route.provider.provider_key)
        md_header = ex.headers.get(settings.identity.metadata_header) \
            if settings.allow_metadata_header else None
        self.metadata = merge_metadata(settings.static_metadata, md_header)
        if settings.usage_log.on_error == "reject" and not rt.usage_log_healthy():
            raise UsageLogUnavailable(
                "The sidecar cannot write its usage log and is configured to refuse traffic it "
                "cannot record (usage_log.on_error: reject). Check the log volume.")

    async def forward(self) -> None:
        """The body (bounded), what it says (model, stream), the admission hooks, the headers
        that cross, the hop to Lava, and the relay of its answer."""
        rt, ex, ctx = self.rt, self.ex, self.ctx
        route, resolved = ctx.route, ctx.resolved
        if route is None or resolved is None:  # pragma: no cover - admit() set both or raised
            raise RuntimeError("forward() before admit()")
        body, self.body_held = await read_body(ex, rt.settings.limits.max_body_bytes, rt.body_budget)
        if route.facts is not None:  # the path said it all (Gemini): the body is not read
            ctx.facts = route.facts
        elif isinstance(body, bytes):
            ctype = ex.headers.value(b"content-type")
            ctx.facts, body = inspect(route.api, body, None if ctype is None else ctype.decode("latin-1"),
                                      inject_stream_usage=route.provider.inject_stream_usage)
        else:
            ctx.facts = RequestFacts(api=route.api)
        if isinstance(body, bytes):
            ctx.request_body = body  # a quota's estimate parses it only if inspect did not
        self.body = body
        # After the body, before anything leaves: a quota reserves what the body asks for; a
        # refusal raised here is never billed.
        for hook in rt.admission:
            await hook.admit(ctx)
        headers = outbound_fields(ex.headers.fields, rt.control_raw, rt.tokens.get(resolved.billing),
                                  self.metadata)
        for name, value in ctx.upstream_headers:  # from admission hooks (tracing's traceparent)
            headers.append(field(name, value)[1:])
        ctx.upstream_at = perf_counter()
        up = self.up = await rt.gateway.open(ex.method, rt.router.forward_url(route.upstream_url),
                                             headers, body)
        ctx.received_at, ctx.status = up.received_at, up.status
        ctx.lava_request_id = up.headers.get("x-lava-request-id")
        await self._relay(up)

    async def _relay(self, up: UpstreamResponse) -> None:
        rt, ctx = self.rt, self.ctx
        route = ctx.route
        if route is None:  # pragma: no cover - forward() checked
            raise RuntimeError("relay before admit()")
        mime = mime_of(up.headers.get("Content-Type"))
        is_sse = mime == EVENT_STREAM
        readers = readers_for(ctx.facts, route.provider.family, mime, up.headers.get("Content-Encoding"),
                              max_line_bytes=rt.settings.limits.max_sse_line_bytes)
        extractor = self.extractor = readers.extractor
        stripper = readers.stripper
        out_headers = response_fields(up.fields, keep_length=stripper is None)
        out_headers.append((_REQUEST_ID_RAW, _REQUEST_ID_RAW, ctx.request_id.encode("ascii")))
        # Known before the first byte: the time spent here before the request left.
        out_headers.append((_OVERHEAD_RAW, _OVERHEAD_RAW,
                            b"%.3f" % (((ctx.upstream_at or ctx.t0) - ctx.t0) * 1000)))
        st = ctx.relay
        if is_sse:
            rt.inflight.streams += 1
        try:
            await relay(self.ex, up, st, headers=out_headers, extractor=extractor,
                        stripper=stripper, shape=ctx.shape, is_sse=is_sse,
                        stripper_reads_usage=readers.stripper_reads_usage)
        finally:
            if is_sse:
                rt.inflight.streams -= 1
        if st.error is not None:
            ctx.error = st.error
        elif st.shutdown:
            ctx.error = shutting_down()

    def refuse(self, err: SidecarError) -> None:
        """Answer one of our own errors, in the caller's API shape."""
        ctx = self.ctx
        ctx.error, ctx.status = err, err.status
        if ctx.route is None:
            ctx.shape = shape_for_path(ctx.path)
        headers, body = refusal(ctx.shape, err)
        headers.append((REQUEST_ID_HEADER, ctx.request_id))
        self.ex.respond(err.status, reason_phrase(err.status), headers, body)

    def cancelled(self, exc: asyncio.CancelledError) -> bool:
        """The handler was cancelled: its client left, or the shutdown grace ended. True when the
        request could still be answered (a 503 in its shape) and the cancellation was taken back."""
        cut = is_shutdown_cut(exc)
        if not cut or self.ctx.relay.head_built:
            self.ctx.cancelled = "shutdown" if cut else "client_disconnect"
            return False
        uncancel()
        self.refuse(shutting_down())
        return True

    def finish(self) -> RequestRecord:
        """Close the upstream, settle the usage, hand the one record to the recorder and then to
        the completion hooks. Synchronous: it runs in ``finally``."""
        rt, ctx = self.rt, self.ctx
        forget_frames(ctx.error)
        if self.up is not None:
            self.up.close(reusable=ctx.relay.upstream_done)
        rt.body_budget.give(self.body_held)
        if self.extractor is not None:
            self._settle_usage(self.extractor)
        ctx.bytes_out = self.ex.bytes_sent
        rec = to_record(ctx, perf_counter())
        ctx.charge_usd = rt.sink.record(rec)
        for hook in rt.completion:
            try:
                hook.complete(ctx, rec)
            except Exception:
                rt.hook_failed(hook)
        return rec

    def _settle_usage(self, extractor: Extractor) -> None:
        ctx = self.ctx
        try:
            ctx.usage = extractor.finish()
        except Exception:
            log.exception("usage extractor failed at the end of the response")
            ctx.relay.extractor_failed = True
        if ctx.status >= 400 and ctx.usage.source == "missing":  # issue 23: an error answer
            ctx.usage = replace(ctx.usage, source="none")  # has nothing to bill, nothing to guess
        # Opt-in only (usage.estimate_missing): a labelled guess beats a silent zero there.
        if self.rt.settings.estimate_missing_usage and ctx.usage.source == "missing" \
                and isinstance(self.body, bytes):
            ctx.usage = estimate(ctx.facts, self.body, ctx.usage)


def forget_frames(err: BaseException | None) -> None:
    """Drop the tracebacks of an error kept past its ``except`` (``ctx.error``, for the record) and
    of the errors it was raised from. A traceback keeps every frame it passed, ``handle`` (which
    holds this cycle, which holds ``ctx``, which holds the error) down to the body's reader: a
    reference cycle, with whatever those frames held, that only a full GC pass frees (issue 24:
    eight refused 31 MiB bodies held 248 MB a round). Nothing reads the frames: the record takes
    the error's code, status and outcome."""
    for _ in range(8):  # a chain is short; bounded all the same
        if err is None:
            return
        err.__traceback__ = None
        err = err.__cause__ or err.__context__


def make_handler(rt: Runtime) -> Callable[[Exchange], Awaitable[None]]:
    """The proxy's one handler, bound to its runtime: served for every path by the inbound server."""
    return functools.partial(handle, rt)


async def handle(rt: Runtime, ex: Exchange) -> None:
    if answered_probe(ex, rt.router):
        return  # not traffic: nothing sent, nothing recorded (``probe/``)
    cycle = RequestCycle(rt, ex)
    # Known to the shutdown, which ends what is still running at the end of its grace.
    task = rt.inflight.enter()
    try:
        await cycle.admit()
        await cycle.forward()
    except SidecarError as err:
        cycle.refuse(err)
    except asyncio.CancelledError as exc:
        if not cycle.cancelled(exc):
            raise
    finally:
        rt.inflight.leave(task)
        cycle.finish()
