"""``to_record``: how a request ended, whether its usage is partial, and the sidecar's own overhead,
decided from the context alone (no sockets): the billing rules, one case each."""

from __future__ import annotations

import pytest

from proxy.config import Provider
from proxy.errors import BodyTooLarge, GatewayUnreachable, RouteNotFound, ShuttingDown
from proxy.gateway.base import UpstreamError, broken_body, connect_timeout, first_byte_timeout, unreachable
from proxy.identity import Resolved
from proxy.pipeline import RequestContext, to_record
from proxy.routing import Route
from proxy.tokens import Billing
from proxy.usage.base import Api, RequestFacts, Usage

OPENAI = Provider("openai", "https://api.openai.com/v1", "/openai/v1", "openai")
T0 = 100.0


def context(**kw: object) -> RequestContext:
    ctx = RequestContext("sc_1", 1_700_000_000.0, T0, "POST", "/v1/chat/completions", {}, "openai")
    ctx.route = Route(OPENAI, "https://api.openai.com/v1/chat/completions", Api.CHAT)
    ctx.resolved = Resolved(Billing("cus_1", "chat-tokens"), "header")
    ctx.facts = RequestFacts(api=Api.CHAT, model="gpt-4o-mini", stream=True)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def served(ctx: RequestContext, *, upstream_done: bool = True, client_done: bool = True) -> RequestContext:
    """The request left at +1 ms, Lava's headers came at +50 ms, the client's head at +50.2 ms."""
    ctx.upstream_at, ctx.received_at, ctx.status = T0 + 0.001, T0 + 0.050, 200
    ctx.relay.head_built, ctx.relay.headers_at = True, T0 + 0.0502
    ctx.relay.first_byte_at = T0 + 0.060
    ctx.relay.upstream_done, ctx.relay.client_done = upstream_done, client_done
    ctx.usage = Usage(input_tokens=10, output_tokens=5, source="provider", model="gpt-4o-mini-2024")
    return ctx


def test_a_whole_answer_is_ok_and_not_partial_with_the_overhead_on_both_sides() -> None:
    rec = to_record(served(context()), T0 + 0.5)
    assert (rec.outcome, rec.partial, rec.status) == ("ok", False, 200)
    assert rec.overhead == pytest.approx(0.001 + 0.0002)
    assert rec.duration == pytest.approx(0.5)
    assert rec.ttfb == pytest.approx(0.060)
    assert (rec.customer_id, rec.meter_slug, rec.identity_via) == ("cus_1", "chat-tokens", "header")
    assert (rec.provider, rec.api, rec.model, rec.stream) == ("openai", Api.CHAT, "gpt-4o-mini", True)
    assert (rec.error_code, rec.upstream_error) == (None, None)


def test_refused_before_anything_left_is_rejected_never_partial_and_has_no_overhead() -> None:
    err = BodyTooLarge("too big")
    rec = to_record(context(error=err, status=413), T0 + 0.001)
    assert (rec.outcome, rec.partial, rec.error_code, rec.overhead) == (
        "rejected", False, "request_too_large", None)


def test_refused_without_a_route_or_identity_records_none_of_them() -> None:
    ctx = context(error=RouteNotFound("no"), status=404)
    ctx.route, ctx.resolved, ctx.facts = None, None, RequestFacts(api=Api.OTHER)
    rec = to_record(ctx, T0)
    assert (rec.provider, rec.api, rec.customer_id, rec.identity_via) == ("", Api.OTHER, None, "none")


def test_the_client_leaving_mid_stream_is_partial() -> None:
    ctx = served(context(), upstream_done=False, client_done=False)
    ctx.relay.client_gone = True
    rec = to_record(ctx, T0 + 1)
    assert (rec.outcome, rec.partial) == ("client_disconnect", True)


def test_the_client_missing_only_the_end_is_still_partial() -> None:
    # Lava finished (and billed all of it), the client did not get the end: usage is what was seen.
    rec = to_record(served(context(), client_done=False), T0 + 1)
    assert rec.partial is True


@pytest.mark.parametrize("err", [unreachable("connect", "refused"), unreachable("dns", "no host"),
                                 connect_timeout()], ids=lambda e: e.reason)
def test_a_failure_while_connecting_is_not_partial_nothing_reached_lava(err: UpstreamError) -> None:
    ctx = context(upstream_at=T0 + 0.001, error=err, status=err.status)
    rec = to_record(ctx, T0 + 1)
    assert rec.partial is False
    assert rec.upstream_error == err.reason
    assert rec.outcome == ("timeout" if err.reason.startswith("timeout") else "upstream_error")


def test_a_body_broken_off_mid_stream_is_partial_and_counted_as_upstream_error() -> None:
    ctx = served(context(), upstream_done=False, client_done=False)
    ctx.error = ctx.relay.error = broken_body()
    rec = to_record(ctx, T0 + 1)
    assert (rec.outcome, rec.partial, rec.upstream_error) == ("upstream_error", True, "reset")


def test_a_first_byte_timeout_may_have_been_billed_so_it_is_partial() -> None:
    ctx = context(upstream_at=T0 + 0.001, error=first_byte_timeout(), status=504)
    rec = to_record(ctx, T0 + 1)
    assert (rec.outcome, rec.partial) == ("timeout", True)


def test_an_unknown_failure_reason_counts_as_sent_never_under_reporting_a_bill() -> None:
    err = UpstreamError(GatewayUnreachable, "something_new", "?")
    assert err.may_have_sent is True
    rec = to_record(context(upstream_at=T0 + 0.001, error=err), T0 + 1)
    assert rec.partial is True


def test_a_stream_cut_by_the_shutdown_grace_is_a_shutdown_with_its_code() -> None:
    ctx = served(context(), upstream_done=False, client_done=False)
    ctx.error = ShuttingDown("grace over")
    rec = to_record(ctx, T0 + 30)
    assert (rec.outcome, rec.partial, rec.error_code) == ("shutdown", True, "shutting_down")


@pytest.mark.parametrize("why", ["client_disconnect", "shutdown"])
def test_a_cancelled_handler_records_why(why: str) -> None:
    ctx = context(upstream_at=T0 + 0.001, cancelled=why)
    rec = to_record(ctx, T0 + 1)
    assert (rec.outcome, rec.partial) == (why, True)


def test_the_model_falls_back_to_the_one_the_response_named() -> None:
    ctx = served(context())
    ctx.facts = RequestFacts(api=Api.CHAT)
    assert to_record(ctx, T0 + 1).model == "gpt-4o-mini-2024"


def test_features_keep_their_own_state_on_the_context() -> None:
    ctx = context()
    key, other = object(), object()
    assert ctx.attached(key) is None
    ctx.attach(key, "ticket")
    assert (ctx.attached(key), ctx.attached(other)) == ("ticket", None)
