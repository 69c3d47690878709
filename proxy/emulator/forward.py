"""``/v1/forward``: authenticate, read the target and metadata, ``admit``, answer (passthrough,
cassette or mock, shaped by any fault), then ``settle`` with what was actually served.

Settling happens in ``finally``: on success, on a fault, on the client leaving, on cancellation.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Final

from aiohttp import web

from ..errors import RequestRejected, error_body
from ..usage.base import MISSING, Usage
from . import cassettes, faults, pacing
from .auth import Caller, authenticate
from .contracts import Served
from .extract import read_usage
from .metadata import parse_metadata
from .passthrough import UpstreamUnavailable, relay
from .providers import MockRequest, fault_reply, mock_reply, provider_name, request_facts, shape_of
from .reply import Reply, delivered_usage, reported_usage
from .state import GatewayState, Seen
from .target import Target, TargetInvalid, parse_forward_query
from .writer import Delivery, perform

log = logging.getLogger("lava_sidecar.emulator")

STATE: Final = web.AppKey("emulator_state", GatewayState)
REQUEST_ID: Final = web.RequestKey("emulator_request_id", str)


def refusal(status: int, code: str, message: str) -> web.Response:
    """Lava's own errors: JSON with an ``error`` object (what the SDKs parse)."""
    return web.Response(status=status, body=error_body("openai", status, code, message),
                        content_type="application/json")


def _doc(body: bytes) -> dict[str, Any] | None:
    if not body or body[:1] not in (b"{", b" ", b"\n", b"\r", b"\t"):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


async def forward(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    rid: str = request[REQUEST_ID]
    body = await request.read()
    seen = Seen(rid, request.method, None, tuple(request.headers.items()), body)
    state.seen.append(seen)
    try:
        return await _forward(request, state, seen, body)
    finally:
        seen.done.set()


async def _forward(request: web.Request, state: GatewayState, seen: Seen,
                   body: bytes) -> web.StreamResponse:
    target: Target | None = None
    target_error: TargetInvalid | None = None
    try:
        target = parse_forward_query(request.rel_url.raw_query_string)
        seen.url = target.url
    except TargetInvalid as err:
        target_error = err
    try:
        caller = authenticate(request.headers, state.accounts)
        seen.token = caller.token
        if target_error is not None or target is None:
            raise target_error or TargetInvalid("Missing 'u'.")
        seen.metadata = parse_metadata(request.headers.get("x-lava-metadata"), target.metadata)
        seen.fault = faults.parse_fault(request.headers.get(faults.HEADER))
        pace = pacing.parse_pace(request.headers.get(pacing.HEADER), state.options.pacing)
    except RequestRejected as err:
        seen.refused, seen.status = err.code, err.status
        return refusal(err.status, err.code, err.message)
    denial = state.accounts.admit(caller.token)
    if denial is not None:
        seen.refused, seen.status = denial.code, denial.status
        return refusal(denial.status, denial.code, denial.message)
    doc = _doc(body)
    out = Delivery()
    reply: Reply | None = None
    extractor = None
    resp: web.StreamResponse | None = None
    try:
        upstream = state.options.upstream_for(target.host)
        if upstream is not None and state.session is not None:
            seen.source = "passthrough"
            facts = request_facts(target.host, target.path, doc)
            try:
                resp, extractor = await relay(request, state.session, upstream, target, body,
                                              caller.token, shape_of(target.host, target.path),
                                              facts, out)
            except UpstreamUnavailable:
                out.status = 502
                return refusal(502, "upstream_unreachable",
                               f"The passthrough upstream for {target.host} did not answer.")
            return resp
        req = MockRequest(request.method, target, request.headers, body, doc, seen.request_id,
                          pace, int(time.time()))
        try:
            reply = _reply(state, seen, req)
        except Exception:  # a mock bug must still answer (and settle) like a provider 500
            log.exception("mock provider failed on %s %s", seen.request_id, target.path[:200])
            reply = fault_reply(req, 500, empty=False)
        if seen.fault is not None and seen.fault.kind == "status":
            reply = fault_reply(req, seen.fault.status, empty=seen.fault.empty)
        script = faults.plan(reply, seen.fault, delay=pace.delay,
                             keepalive=state.options.keepalive_interval)
        resp = await perform(request, script, out, state.options.limits)
        seen.complete = out.complete and script.whole
        return resp if resp is not None else web.Response(status=204)
    finally:
        if seen.source == "passthrough":
            seen.complete = out.complete
            usage = extractor.finish() if extractor is not None else MISSING
            seen.reported = usage
        else:
            usage = _usage(reply, out, seen.complete, target, doc)
            measured = reply is None or reply.measured
            seen.reported = usage if measured else reported_usage(out.sent)
        seen.status = out.status
        _settle(state, seen, caller, target, reply, usage, doc)


def _reply(state: GatewayState, seen: Seen, req: MockRequest) -> Reply:
    opts = state.options
    found = cassettes.match(opts.cassettes, req.method, req.target.url, req.body, req.headers)
    if found is None:
        seen.source = "mock"
        return mock_reply(req)
    seen.source = "cassette"
    return cassettes.cassette_reply(found, seed=opts.cassette_seed,
                                    max_chunk=opts.cassette_max_chunk)


def _usage(reply: Reply | None, out: Delivery, complete: bool, target: Target,
           doc: dict[str, Any] | None) -> Usage:
    if reply is None:
        return MISSING
    if not reply.measured:
        return delivered_usage(reply, out.sent, headers_sent=out.headers_sent, complete=complete)
    facts = request_facts(target.host, target.path, doc)
    return read_usage(facts, shape_of(target.host, target.path), reply.content_type, None,
                      (p.data * p.repeat for p in out.sent))


def _settle(state: GatewayState, seen: Seen, caller: Caller, target: Target,
            reply: Reply | None, usage: Usage, doc: dict[str, Any] | None) -> None:
    model = (reply.model if reply else None) or request_facts(target.host, target.path, doc).model \
        or usage.model
    ok = seen.complete and 200 <= seen.status < 400
    served = Served(
        request_id=seen.request_id, provider=provider_name(target.host),
        endpoint=f"{seen.method} {target.endpoint}",
        model=model if isinstance(model, str) else None,
        response_id=(reply.response_id if reply else None) or usage.response_id,
        usage=usage, status="completed" if ok else "error", metadata=dict(seen.metadata),
        timestamp=time.time())
    seen.served = served
    try:
        seen.settled = state.accounts.settle(caller.token, served)
    except Exception as exc:  # the accounts are another component: report, never crash the relay
        log.error("settle failed for %s: %s", seen.request_id, type(exc).__name__)
    log.info("forward %s %s %s%s -> %s%s", seen.request_id, seen.method, target.host,
             target.path[:200], seen.status or "reset", "" if seen.complete else " (partial)")
