"""Spans as a collector receives them: the official SDKs through the traced sidecar to the local
Lava gateway, the OTLP/HTTP protobuf decoded by a loopback receiver (``collector.py``).

Every number on a span is checked against the usage-log line of the same request, and every
trace-context claim against the ``traceparent`` the gateway actually received.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from ..conftest import TEST_SECRET
from ..stack import CUSTOMER_HEADERS, Stack
from .collector import CLIENT, SERVER, Collector, Span, running_collector
from .conftest import traced_stack

INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_SPAN = "00f067aa0ba902b7"


@pytest.fixture
async def collector():  # type: ignore[no-untyped-def]
    async with running_collector() as col:
        yield col


@pytest.fixture
async def stack(tmp_path: Path, collector: Collector):  # type: ignore[no-untyped-def]
    async with traced_stack(tmp_path, collector.url) as s:
        yield s


def oai(stack: Stack, **headers: str) -> openai.AsyncOpenAI:
    c = openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="sk-app-dummy-credential",
                           default_headers={**CUSTOMER_HEADERS, **headers}, max_retries=0)
    stack.closers.append(c.close)
    return c


def one_trace(col: Collector) -> tuple[Span, Span]:
    [server] = col.by_kind(SERVER)
    [client] = col.by_kind(CLIENT)
    return server, client


async def line_for(stack: Stack, server: Span) -> dict[str, Any]:
    """The usage-log line of the span's request (the log writer runs on its own: waited for)."""
    rid = server.attributes["lava.sidecar.request_id"]
    async with asyncio.timeout(10):
        while not (lines := [ln for ln in stack.log_lines() if ln["request_id"] == rid]):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    [line] = lines
    return line


def assert_agrees_with_log(server: Span, line: dict[str, Any]) -> None:
    """The span's numbers are the usage log's numbers (one RequestRecord feeds both)."""
    a = server.attributes
    pairs = {"gen_ai.usage.input_tokens": "input_tokens", "gen_ai.usage.output_tokens": "output_tokens",
             "gen_ai.usage.cache_read.input_tokens": "cache_read_tokens",
             "gen_ai.usage.cache_creation.input_tokens": "cache_write_tokens",
             "gen_ai.usage.reasoning.output_tokens": "reasoning_tokens",
             "gen_ai.response.model": "response_model", "gen_ai.response.id": "response_id",
             "lava.customer.id": "customer", "lava.meter": "meter", "lava.request_id": "lava_request_id",
             "lava.usage.source": "source", "lava.usage.partial": "partial",
             "http.response.status_code": "status", "lava.outcome": "outcome"}
    for attr, key in pairs.items():
        assert a.get(attr) == line[key], attr
    assert a["gen_ai.request.model"] == line["model"]
    assert line["charge_usd"] is not None
    assert a["lava.charge_usd"] == pytest.approx(float(line["charge_usd"]))
    assert a["lava.customer.id"] == "cus_alpha"
    assert a["gen_ai.usage.input_tokens"] > 0


def assert_shape(server: Span, client: Span, gateway_traceparent: str | None) -> None:
    """Parent/child, times in order, and the gateway got the client span's context."""
    assert client.trace_id == server.trace_id
    assert client.parent_span_id == server.span_id
    assert server.start_ns <= client.start_ns <= client.end_ns <= server.end_ns
    events = dict(client.events)
    assert server.start_ns <= events["lava.response.headers"] <= events["lava.response.first_byte"] \
        <= server.end_ns
    assert gateway_traceparent == f"00-{server.trace_id}-{client.span_id}-01"
    assert server.resource["service.name"] == "lava-sidecar"
    assert server.scope == "lava-sidecar"
    assert client.attributes["server.address"] == "127.0.0.1"
    assert client.attributes["http.response.status_code"] == 200


async def test_chat(stack: Stack, collector: Collector) -> None:
    await oai(stack).chat.completions.create(model="gpt-4o-mini",
                                             messages=[{"role": "user", "content": "Say hello"}])
    seen = await stack.gateway.last.finished()
    await collector.wait(2)
    server, client = one_trace(collector)
    assert server.name == "chat gpt-4o-mini"
    a = server.attributes
    assert (a["gen_ai.operation.name"], a["gen_ai.provider.name"], a["http.request.method"]) == \
        ("chat", "openai", "POST")
    assert server.parent_span_id == ""  # no incoming trace: the sidecar started one
    assert server.status_code == 0
    assert "error.type" not in a
    assert a["lava.request_id"] == seen.request_id
    assert_agrees_with_log(server, await line_for(stack, server))
    assert_shape(server, client, seen.header("traceparent"))
    assert client.name == "POST"


async def test_streamed_chat(stack: Stack, collector: Collector) -> None:
    stream = await oai(stack).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Count to five"}], stream=True)
    _ = [chunk async for chunk in stream]
    seen = await stack.gateway.last.finished()
    await collector.wait(2)
    server, client = one_trace(collector)
    assert server.name == "chat gpt-4o-mini"
    assert server.attributes["lava.stream"] is True
    assert_agrees_with_log(server, await line_for(stack, server))
    assert_shape(server, client, seen.header("traceparent"))


async def test_responses(stack: Stack, collector: Collector) -> None:
    await oai(stack).responses.create(model="gpt-4o-mini", input="Say hello")
    seen = await stack.gateway.last.finished()
    await collector.wait(2)
    server, client = one_trace(collector)
    assert server.name == "chat gpt-4o-mini"
    assert_agrees_with_log(server, await line_for(stack, server))
    assert_shape(server, client, seen.header("traceparent"))


async def test_embeddings(stack: Stack, collector: Collector) -> None:
    await oai(stack).embeddings.create(model="text-embedding-3-small", input="hello")
    seen = await stack.gateway.last.finished()
    await collector.wait(2)
    server, client = one_trace(collector)
    assert server.name == "embeddings text-embedding-3-small"
    assert server.attributes["gen_ai.operation.name"] == "embeddings"
    line = await line_for(stack, server)
    assert server.attributes["gen_ai.usage.input_tokens"] == line["input_tokens"] > 0
    assert server.attributes.get("gen_ai.usage.output_tokens") == line["output_tokens"]
    assert_shape(server, client, seen.header("traceparent"))


async def test_anthropic_messages(stack: Stack, collector: Collector) -> None:
    c = anthropic.AsyncAnthropic(base_url=stack.url + "/anthropic", api_key="sk-ant-app-dummy",
                                 default_headers=CUSTOMER_HEADERS, max_retries=0)
    stack.closers.append(c.close)
    await c.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                            messages=[{"role": "user", "content": "Say hello"}])
    seen = await stack.gateway.last.finished()
    await collector.wait(2)
    server, client = one_trace(collector)
    assert server.name == "chat claude-sonnet-4-5"
    assert server.attributes["gen_ai.provider.name"] == "anthropic"
    assert_agrees_with_log(server, await line_for(stack, server))
    assert_shape(server, client, seen.header("traceparent"))


async def test_the_callers_trace_is_continued(stack: Stack, collector: Collector) -> None:
    incoming = f"00-{INCOMING_TRACE}-{INCOMING_SPAN}-01"
    await oai(stack, traceparent=incoming, tracestate="vendor=abc,other=1").chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    seen = await stack.gateway.last.finished()
    await collector.wait(2)
    server, client = one_trace(collector)
    assert server.trace_id == INCOMING_TRACE
    assert server.parent_span_id == INCOMING_SPAN
    # Lava gets the sidecar's client span as parent, in the same trace, not the caller's header.
    assert seen.header("traceparent") == f"00-{INCOMING_TRACE}-{client.span_id}-01"
    assert [v for n, v in seen.headers if n.lower() == "traceparent"] == [seen.header("traceparent")]
    assert seen.header("tracestate") == "vendor=abc,other=1"
    assert_shape(server, client, seen.header("traceparent"))


async def test_an_unsampled_caller_is_followed(stack: Stack, collector: Collector) -> None:
    incoming = f"00-{INCOMING_TRACE}-{INCOMING_SPAN}-00"
    await oai(stack, traceparent=incoming).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    seen = await stack.gateway.last.finished()
    tp = seen.header("traceparent")
    assert tp is not None
    assert tp.startswith(f"00-{INCOMING_TRACE}-")
    assert tp.endswith("-00")
    assert tp != incoming
    # The next (sampled) request's spans arrive; the unsampled one's never do.
    await oai(stack).chat.completions.create(model="gpt-4o-mini",
                                             messages=[{"role": "user", "content": "hi"}])
    await collector.wait(2)
    assert all(s.trace_id != INCOMING_TRACE for s in collector.spans)


@pytest.mark.parametrize("bad", [
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",       # short flags
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",      # upper case
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",      # zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",      # zero parent id
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",      # forbidden version
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz",  # v00 with extra fields
    "not a traceparent",
])
async def test_a_malformed_traceparent_starts_a_new_trace(stack: Stack, collector: Collector,
                                                          bad: str) -> None:
    await oai(stack, traceparent=bad, tracestate="vendor=abc").chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    seen = await stack.gateway.last.finished()
    await collector.wait(2)
    server, client = one_trace(collector)
    assert server.parent_span_id == ""
    assert server.trace_id not in (INCOMING_TRACE, INCOMING_TRACE.upper(), "0" * 32)
    assert seen.header("traceparent") == f"00-{server.trace_id}-{client.span_id}-01"
    assert seen.header("tracestate") is None  # travels only with a valid traceparent


async def test_a_refused_request_has_a_server_span_and_no_hop(stack: Stack, collector: Collector) -> None:
    c = openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="sk-app-dummy-credential", max_retries=0)
    stack.closers.append(c.close)
    with pytest.raises(openai.AuthenticationError):  # no customer: refused before anything left
        await c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    [server] = await collector.wait(1)
    assert server.kind == SERVER
    assert server.status_code == 2
    line = await line_for(stack, server)
    assert server.attributes["error.type"] == line["error_code"] == "customer_missing"
    assert server.attributes["lava.outcome"] == line["outcome"] == "rejected"
    assert server.attributes["http.response.status_code"] == 401
    assert collector.by_kind(CLIENT) == []


async def test_no_secret_or_content_in_exported_spans(stack: Stack, collector: Collector) -> None:
    prompt = "the secret recipe is 42 bananas"
    await oai(stack).chat.completions.create(model="gpt-4o-mini",
                                             messages=[{"role": "user", "content": prompt}])
    seen = await stack.gateway.last.finished()
    await collector.wait(2)
    payload = b"".join(collector.bodies)
    assert seen.token is not None
    for needle in (TEST_SECRET, "sk-app-dummy", "Bearer", "bananas", "aks_test_"):
        assert needle.encode() not in payload, needle
    forward_token = next(v for n, v in seen.headers if n.lower() == "authorization")
    assert forward_token.split()[-1].encode() not in payload


async def test_a_quota_refusal_is_traced(tmp_path: Path, collector: Collector) -> None:
    from proxy.quotas import QuotaLimits, QuotaSettings

    limits = QuotaSettings(default=QuotaLimits(requests_per_minute=0))
    async with traced_stack(tmp_path, collector.url, settings={"quotas": limits}) as stack:
        with pytest.raises(openai.RateLimitError):
            await oai(stack).chat.completions.create(model="gpt-4o-mini",
                                                     messages=[{"role": "user", "content": "hi"}])
        [server] = await collector.wait(1)
        line = await line_for(stack, server)
    assert server.attributes["lava.outcome"] == line["outcome"] == "rate_limited"
    assert server.attributes["error.type"] == line["error_code"]
    assert server.attributes["http.response.status_code"] == 429
    assert collector.by_kind(CLIENT) == []  # refused before anything left for Lava


async def test_gemini_generate_content(stack: Stack, collector: Collector) -> None:
    """Google's native API: provider ``gcp.gemini``, operation ``generate_content``, the model from
    the path; no query (``?key=`` is a credential) in any attribute."""
    path = "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    async with httpx.AsyncClient(base_url=stack.url) as http:
        resp = await http.post(path + "?alt=sse&key=AIzaSyTracedKey0000000000000000000000",
                               json={"contents": [{"parts": [{"text": "Say hello"}]}]},
                               headers=CUSTOMER_HEADERS)
    assert resp.status_code == 200
    seen = await stack.gateway.last.finished()
    await collector.wait(2)
    server, client = one_trace(collector)
    assert server.name == "generate_content gemini-2.5-flash"
    a = server.attributes
    assert (a["gen_ai.operation.name"], a["gen_ai.provider.name"], a["url.path"]) == (
        "generate_content", "gcp.gemini", path)
    assert a["lava.stream"] is True
    assert a["gen_ai.usage.reasoning.output_tokens"] > 0
    assert_agrees_with_log(server, await line_for(stack, server))
    assert_shape(server, client, seen.header("traceparent"))
    assert b"AIzaSy" not in b"".join(collector.bodies)
