"""``lava-sidecar mcp`` over stdio, driven by the MCP SDK's own client: Lava's whole billing flow
from an agent against the local gateway, every tool, each billable call checked in the usage log,
in ``/usage`` and in the forward token the gateway received."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from proxy.billing import AsyncLavaClient
from proxy.emulator.server import RunningGateway, running_local_gateway

from ..conftest import TEST_SECRET
from .helpers import METER, stdio_params, usage_lines, wait_lines, write_config

pytestmark = pytest.mark.slow

BASE_TOOLS = {"login", "prompt", "call", "providers", "usage"}
ADMIN_TOOLS = {"create_meter", "create_plan", "create_checkout_session", "list_customers",
               "customer_subscription"}


def ok(result: Any) -> Any:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    # The text content is the same document (clients that read only text see it all).
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def no_secret(result: Any) -> None:
    dumped = json.dumps([c.model_dump() for c in result.content]) + json.dumps(result.structured_content)
    assert TEST_SECRET not in dumped
    assert TEST_SECRET[9:] not in dumped


async def _seed(gw: RunningGateway, config: Path) -> tuple[str, str]:
    """Billing setup from an agent: meter → plan → checkout; the hosted checkout completed by hand."""
    async with Client(stdio_params(gw.url, config, "--allow-billing-admin"), mode="legacy") as agent:
        names = {t.name for t in (await agent.list_tools()).tools}
        assert names == BASE_TOOLS | ADMIN_TOOLS
        login = ok(await agent.call_tool("login", {}))  # no customer bound yet: still an answer
        assert (login["customer"], login["key_valid"], login["billing_admin"]) == (None, True, True)
        assert "400 customer_missing" in (await agent.call_tool("customer_subscription", {})).content[0].text
        meter = ok(await agent.call_tool("create_meter", {"name": "Chat tokens", "rate": "3.00",
                                                          "meter_slug": METER}))["meter"]
        assert (meter["meter_slug"], meter["tiers"][0]["rate"]) == (METER, "3.00")
        plan = ok(await agent.call_tool("create_plan", {"name": "Pro", "period_amount": "20.00",
                                                        "included_credit": "20.00",
                                                        "meter_ids": [meter["meter_id"]]}))["plan"]
        assert plan["linked_meters"][0]["meter_id"] == meter["meter_id"]
        session = ok(await agent.call_tool("create_checkout_session",
                                           {"plan_id": plan["plan_id"]}))["checkout_session"]
        assert session["plan_id"] == plan["plan_id"]
    async with AsyncLavaClient(base_url=gw.url, secret_key=TEST_SECRET) as lava:
        done = await lava.checkout_sessions.complete_local(session["checkout_session_id"],
                                                           phone="+15550100001", first_name="Ada")
    assert done.customer_id is not None
    return done.customer_id, plan["plan_id"]


async def test_the_whole_billing_flow_from_an_agent_over_stdio(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    async with running_local_gateway(TEST_SECRET) as gw:
        customer, plan_id = await _seed(gw, config)
        assert usage_lines(tmp_path) == []  # setup is not billable traffic
        params = stdio_params(gw.url, config, "--customer", customer, "--meter", METER,
                              "--allow-billing-admin")
        async with Client(params, mode="legacy") as agent:
            assert agent.server_info is not None
            assert agent.server_info.name == "lava-sidecar"
            assert agent.server_capabilities.tools is not None
            assert "402" in (agent.instructions or "")
            tools = {t.name: t for t in (await agent.list_tools()).tools}
            _check_schemas(tools)

            login = await agent.call_tool("login", {})
            no_secret(login)
            assert ok(login) | {"gateway": None, "providers": None} == {
                "gateway": None, "key_valid": True, "key_type": "test", "key_last4": TEST_SECRET[-4:],
                "customer": customer, "meter": METER, "providers": None, "sidecar": "embedded",
                "billing_admin": True, "problem": None}

            answer = ok(await agent.call_tool("prompt", {
                "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}))
            assert answer["text"]
            assert answer["provider"] == "openai"
            assert answer["customer"] == customer
            await _billed_once(agent, gw, tmp_path, 1, customer, answer["usage"])

            claude = ok(await agent.call_tool("prompt", {
                "model": "claude-haiku-4-5", "max_tokens": 20,
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}))
            assert claude["provider"] == "anthropic"
            assert claude["text"]
            await _billed_once(agent, gw, tmp_path, 2, customer, claude["usage"])
            assert gw.last.json()["system"] == "Be brief."

            emb = ok(await agent.call_tool("call", {
                "provider": "openai", "method": "POST", "path": "/embeddings",
                "body": {"model": "text-embedding-3-small", "input": "hello"}}))
            assert emb["status"] == 200
            assert emb["body"]["data"]
            await _billed_once(agent, gw, tmp_path, 3, customer, None)

            listed = ok(await agent.call_tool("providers", {}))
            assert {"name": "openai", "family": "openai", "base_url": "https://api.openai.com/v1",
                    "sidecar_path": "/openai/v1", "default": True} in listed["providers"]
            assert len(usage_lines(tmp_path)) == 3  # listing without models sends nothing
            models = ok(await agent.call_tool("providers", {"models_for": "openai"}))
            openai = next(p for p in models["providers"] if p["name"] == "openai")
            assert openai["models"], openai
            await _billed_once(agent, gw, tmp_path, 4, customer, None)

            usage = ok(await agent.call_tool("usage", {}))
            mine = usage["sidecar"]["customers"][customer]["total"]
            assert mine["requests"] == 4
            lava = usage["lava"]["totals"]
            assert int(lava["total_requests"]) == 4
            assert int(lava["total_usage_tokens"]) == mine["input_tokens"] + mine["output_tokens"]

            sub = ok(await agent.call_tool("customer_subscription", {}))["subscription"]
            assert (sub["plan_id"], sub["status"]) == (plan_id, "active")
            assert Decimal(sub["credits"]["total_remaining"]) < Decimal("20.00")  # the prompts were charged
            customers = ok(await agent.call_tool("list_customers", {}))["customers"]
            assert customer in [c["customer_id"] for c in customers["data"]]
            assert customers["has_more"] is False


def _check_schemas(tools: dict[str, Any]) -> None:
    prompt = tools["prompt"].input_schema
    assert prompt["type"] == "object"
    assert set(prompt["required"]) == {"model", "messages"}
    assert prompt["properties"]["messages"]["type"] == "array"
    assert "ctx" not in prompt["properties"]
    call = tools["call"].input_schema
    assert set(call["required"]) == {"provider", "path"}
    assert call["properties"]["method"]["enum"] == ["GET", "POST", "PUT", "PATCH", "DELETE"]
    meter = tools["create_meter"].input_schema
    assert meter["properties"]["tier_type"]["enum"][0] == "tokens_1m"
    out = tools["prompt"].output_schema
    assert out is not None
    assert {"text", "model", "usage", "customer"} <= set(out["properties"])
    assert tools["login"].output_schema["properties"]["key_last4"]["type"] == "string"
    for name in ADMIN_TOOLS | BASE_TOOLS:  # every result is typed, none a bare object
        schema = tools[name].output_schema
        assert schema is not None, name
        assert schema.get("properties"), name
    meter_out = tools["create_meter"].output_schema
    assert "meter_id" in meter_out["$defs"]["Meter"]["properties"]
    for tool in tools.values():
        assert len(tool.description or "") > 40, tool.name


async def _billed_once(agent: Client, gw: RunningGateway, tmp: Path, count: int, customer: str,
                       usage: dict[str, Any] | None, *, by_argument: bool = False) -> None:
    """The call left exactly one usage line, attributed to the bound customer via mcp, counted in
    the sidecar's /usage (as the usage tool reads it), and the gateway received that customer's
    forward token."""
    lines = await wait_lines(tmp, count)
    assert len(lines) == count
    line = lines[-1]
    assert (line["customer"], line["meter"], line["identity"]) == (customer, METER, "mcp")
    assert line["status"] == 200
    if usage is not None:
        assert line["input_tokens"] == usage["input_tokens"]
        assert line["output_tokens"] == usage["output_tokens"]
    seen = gw.last
    assert seen.token is not None
    assert (seen.token.customer_id, seen.token.meter_slug) == (customer, METER)
    assert seen.header("x-lava-client") is None  # a control header: consumed, never forwarded
    assert line["lava_request_id"] == seen.request_id
    mine = sum(1 for x in lines if x["customer"] == customer)
    doc = ok(await agent.call_tool("usage", {"customer": customer} if by_argument else {}))
    assert doc["sidecar"]["customers"][customer]["total"]["requests"] == mine


async def test_a_customer_argument_bills_that_customer_only_when_allowed(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"allow_customer_argument": True})
    async with running_local_gateway(TEST_SECRET) as gw:
        async with AsyncLavaClient(base_url=gw.url, secret_key=TEST_SECRET) as lava:
            meter = await lava.meters.create(name="Chat", meter_slug=METER, rate="3.00")
            plan = await lava.plans.create(name="Pro", period_amount="20", included_credit="20",
                                           meter_ids=[meter.meter_id])
            ids = []
            for phone in ("+15550100031", "+15550100032"):
                session = await lava.checkout_sessions.create(plan_id=plan.plan_id)
                done = await lava.checkout_sessions.complete_local(session.checkout_session_id, phone=phone)
                ids.append(done.customer_id)
        bound, other = ids
        assert bound is not None
        assert other is not None
        async with Client(stdio_params(gw.url, config, "--customer", bound, "--meter", METER)) as agent:
            ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            assert ok(await agent.call_tool("prompt", ask))["customer"] == bound
            await _billed_once(agent, gw, tmp_path, 1, bound, None)
            assert ok(await agent.call_tool("prompt", {**ask, "customer": other}))["customer"] == other
            await _billed_once(agent, gw, tmp_path, 2, other, None, by_argument=True)
            usage = ok(await agent.call_tool("usage", {"customer": other}))
            assert usage["sidecar"]["customers"][other]["total"]["requests"] == 1
            assert int(usage["lava"]["totals"]["total_requests"]) == 1
