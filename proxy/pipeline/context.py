"""``RequestContext``: one request's state as it goes through the pipeline, and the record it ends as.

The phases fill it in; the seams (``seams.py``) read it and hang their own per-request state off
it. ``to_record`` is pure: how a request ended (outcome), whether its usage is only what was seen
(partial) and what the sidecar itself added (overhead) are decided from the context alone, so the
billing rules are tested without a socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from ..errors import Shape, SidecarError
from ..gateway import UpstreamError
from ..identity import Resolved
from ..record import Outcome, RequestRecord
from ..routing import Route
from ..usage.base import MISSING, Api, RequestFacts, Usage
from .relay import RelayState

#: The facts of a request whose body was never inspected (refused early, or streamed through).
NO_FACTS: Final = RequestFacts(api=Api.OTHER)


@dataclass(slots=True, eq=False)
class RequestContext:
    """Everything known about one request so far. Hooks read it; only the pipeline writes its
    fields (a hook's own state goes through ``attach``)."""

    request_id: str
    started_at: float  # unix seconds, wall clock
    #: ``perf_counter()`` at arrival; every other timing here is on the same clock. (Not
    #: ``loop.time()``: uvloop caches the loop clock per iteration at millisecond resolution.)
    t0: float
    method: str
    path: str  # the request target as received
    headers: Mapping[str, str]  # the inbound request's headers (case-insensitive)
    shape: Shape  # the caller's API shape, for errors
    route: Route | None = None
    resolved: Resolved | None = None
    facts: RequestFacts = NO_FACTS
    #: The request body when it was read whole (for an admission hook's estimate); empty when
    #: it streamed through.
    request_body: bytes = b""
    #: Extra headers for the request to Lava, added by admission hooks (``traceparent``).
    upstream_headers: list[tuple[str, str]] = field(default_factory=list)
    upstream_at: float | None = None  # the request left for Lava
    received_at: float | None = None  # Lava's response headers arrived
    lava_request_id: str | None = None
    status: int = 0  # the HTTP status the client got (0: none)
    error: SidecarError | None = None  # why the request failed, when it did
    #: Set when the handler was cancelled: ``client_disconnect`` or ``shutdown``.
    cancelled: Outcome | None = None
    relay: RelayState = field(default_factory=RelayState)
    usage: Usage = MISSING
    #: The recorder's charge estimate, set once the record is made (before the completion hooks).
    charge_usd: Decimal | None = None
    #: Response bytes handed to the client's connection (head and framing included), known at the end.
    bytes_out: int = 0
    _attached: dict[object, object] | None = None

    def attach(self, key: object, value: object) -> None:
        """Keep a feature's per-request state (a span, a quota ticket) under the feature's own key."""
        if self._attached is None:
            self._attached = {}
        self._attached[key] = value

    def attached(self, key: object) -> object | None:
        return None if self._attached is None else self._attached.get(key)

    @property
    def customer_id(self) -> str | None:
        return self.resolved.billing.customer_id if self.resolved is not None else None

    @property
    def meter_slug(self) -> str | None:
        return self.resolved.billing.meter_slug if self.resolved is not None else None


def outcome_of(ctx: RequestContext) -> Outcome:
    if ctx.cancelled is not None:
        return ctx.cancelled
    if ctx.error is not None:
        return ctx.error.outcome
    if ctx.relay.client_gone:
        return "client_disconnect"
    # Answered whole, with an error status: Lava's refusals were "ok" before issue 23.
    return "upstream_refused" if ctx.status >= 400 else "ok"


def may_have_reached_lava(ctx: RequestContext) -> bool:
    """Whether Lava may have served (and billed) this request: it left, and did not fail while
    the connection was still being set up."""
    if ctx.upstream_at is None:
        return False
    err = ctx.error
    return not isinstance(err, UpstreamError) or err.may_have_sent


def is_partial(ctx: RequestContext) -> bool:
    """Lava may have billed it and the answer did not arrive whole: its usage is only what was
    seen."""
    st = ctx.relay
    return may_have_reached_lava(ctx) and not (st.upstream_done and st.client_done)


def overhead(ctx: RequestContext) -> float | None:
    """Time spent in the sidecar before the request left plus after the response headers came."""
    upstream_at, received_at, headers_at = ctx.upstream_at, ctx.received_at, ctx.relay.headers_at
    if upstream_at is None or received_at is None or headers_at is None:
        return None
    return (upstream_at - ctx.t0) + max(0.0, headers_at - received_at)


def to_record(ctx: RequestContext, end: float) -> RequestRecord:
    """The request's one record; ``end`` is ``perf_counter()`` when it finished."""
    billing = ctx.resolved.billing if ctx.resolved is not None else None
    route, err, usage, st = ctx.route, ctx.error, ctx.usage, ctx.relay
    first = st.first_byte_at
    return RequestRecord(
        request_id=ctx.request_id,
        lava_request_id=ctx.lava_request_id,
        started_at=ctx.started_at,
        customer_id=billing.customer_id if billing else None,
        meter_slug=billing.meter_slug if billing else None,
        identity_via=ctx.resolved.via if ctx.resolved is not None else "none",
        provider=route.provider.name if route is not None else "",
        api=route.api if route is not None else Api.OTHER,
        model=ctx.facts.model or usage.model,
        status=ctx.status,
        stream=ctx.facts.stream,
        usage=usage,
        partial=is_partial(ctx),
        outcome=outcome_of(ctx),
        duration=end - ctx.t0,
        ttfb=(first - ctx.t0) if first is not None else None,
        overhead=overhead(ctx),
        error_code=err.code if err is not None else None,
        upstream_error=err.reason if isinstance(err, UpstreamError) else None,
        extractor_error=st.extractor_failed,
    )
