"""Numbers you can bill on: after a mixed run (OpenAI and Anthropic, streaming and not, several
customers, requests cut short), /metrics, /usage and the usage log each equal, per customer, the
usage the gateway's delivered bytes stated, and every gateway request is logged exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai

from proxy.emulator.providers import Pacing

from .stack import Stack, running_stack

TYPES = ("input", "output", "cache_read", "cache_write", "reasoning")
FIELDS = {"input": "input_tokens", "output": "output_tokens", "cache_read": "cache_read_tokens",
          "cache_write": "cache_write_tokens", "reasoning": "reasoning_tokens"}
CUSTOMERS = ("cus_a", "cus_b", "cus_c")


def headers(customer: str, **extra: str) -> dict[str, str]:
    return {"X-Lava-Customer-Id": customer, "X-Lava-Meter": "chat-tokens", **extra}


async def openai_traffic(stack: Stack, customer: str) -> None:
    async with openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0,
                                  default_headers=headers(customer)) as c:
        msgs: Any = [{"role": "user", "content": f"hello from {customer}"}]
        await c.chat.completions.create(model="gpt-4o-mini", messages=msgs)
        async for _ in await c.chat.completions.create(model="gpt-4o-mini", messages=msgs, stream=True):
            pass
        async for _ in await c.chat.completions.create(model="gpt-4o-mini", messages=msgs, stream=True,
                                                       stream_options={"include_usage": True}):
            pass
        await c.embeddings.create(model="text-embedding-3-small", input=["one", "two", customer])
        await c.responses.create(model="gpt-5-nano", input="hi")
        async for _ in await c.responses.create(model="gpt-5-nano", input="stream", stream=True):
            pass


async def anthropic_traffic(stack: Stack, customer: str) -> None:
    async with anthropic.AsyncAnthropic(base_url=stack.url + "/anthropic", api_key="x", max_retries=0,
                                        default_headers=headers(customer)) as c:
        msgs: Any = [{"role": "user", "content": f"hi {customer}"}]
        await c.messages.create(model="claude-haiku-4-5", max_tokens=20, messages=msgs)
        async with c.messages.stream(model="claude-haiku-4-5", max_tokens=12, messages=msgs) as s:
            await s.get_final_message()


async def cut_short(stack: Stack, http: aiohttp.ClientSession) -> None:
    """Streams that end early: the gateway resets mid-stream, or the client walks away."""
    chat = b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"cut"}]}'
    msg = (b'{"model":"claude-haiku-4-5","max_tokens":30,"stream":true,'
           b'"messages":[{"role":"user","content":"cut"}]}')
    ctype = {"Content-Type": "application/json"}
    for path, body, customer in (("/anthropic/v1/messages", msg, "cus_a"),
                                 ("/v1/chat/completions", chat, "cus_b")):
        async with http.post(stack.url + path, data=body,
                             headers={**headers(customer, **{"x-emulator-fault": "reset-mid-stream"}),
                                      **ctype}) as resp:
            await resp.read()  # ends with an error event in the caller's shape
    # The client reads the first event, then leaves while the gateway pauses between chunks.
    for path, body in (("/anthropic/v1/messages", msg), ("/v1/chat/completions", chat)):
        resp = await http.post(stack.url + path, data=body, headers={**headers("cus_c"), **ctype})
        await resp.content.readuntil(b"\n\n")
        resp.close()


def metric_totals(stack: Stack) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for family in stack.registry.collect():
        if family.name != "lava_sidecar_tokens":
            continue
        for s in family.samples:
            if s.name == "lava_sidecar_tokens_total":
                out[s.labels["customer"]][s.labels["type"]] += int(s.value)
    return out


async def test_metrics_usage_and_log_equal_what_the_gateway_served(tmp_path: Path) -> None:
    async with running_stack(tmp_path, gateway_options={"pacing": Pacing(chunks=4, delay=0.3)}) as stack:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(openai_traffic(stack, c) for c in CUSTOMERS),
                                 *(anthropic_traffic(stack, c) for c in CUSTOMERS),
                                 cut_short(stack, http))
            seen = [await s.finished() for s in stack.gateway.seen]
            await asyncio.sleep(0.2)  # the sidecar records a cut request when its handler unwinds
            async with http.get(stack.admin_url + "/usage") as r:
                usage_doc = await r.json()
        metrics = metric_totals(stack)
    log = stack.log_lines()  # read after close: the usage log is flushed on shutdown

    expected: dict[str, Counter[str]] = defaultdict(Counter)
    for s in seen:
        assert s.token is not None
        for t in TYPES:
            expected[str(s.token.customer_id)][t] += getattr(s.reported, FIELDS[t]) or 0
    assert len(seen) == 3 * 8 + 4
    assert set(expected) == set(CUSTOMERS)
    assert sum(expected["cus_a"].values()) > 0

    logged: dict[str, Counter[str]] = defaultdict(Counter)
    for line in log:
        for t in TYPES:
            logged[line["customer"]][t] += line[FIELDS[t]] or 0
    from_usage = {c: Counter({t: usage_doc["customers"][c]["total"][FIELDS[t]] for t in TYPES})
                  for c in CUSTOMERS}
    for customer in CUSTOMERS:
        want = +expected[customer]
        assert +logged[customer] == want, customer
        assert +from_usage[customer] == want, customer
        assert +metrics[customer] == want, customer

    # Exactly once: one log line per gateway request, matched by Lava's request id.
    ids = Counter(line["lava_request_id"] for line in log)
    assert ids == Counter(s.request_id for s in seen)
    by_id = {line["lava_request_id"]: line for line in log}
    for s in seen:
        line = by_id[s.request_id]
        assert line["customer"] == s.token.customer_id if s.token else False
        if not s.complete:
            assert line["partial"] is True, line
    cut = [by_id[s.request_id] for s in seen if not s.complete]
    assert len(cut) == 4
    assert sorted(line["outcome"] for line in cut) == [
        "client_disconnect", "client_disconnect", "upstream_error", "upstream_error"]
