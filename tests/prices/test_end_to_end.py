"""With no ``meters:`` in config, the sidecar's charges are what the local Lava billed: per request
(the usage log joined on Lava's request id), per customer (``/usage`` against Lava's ``/usage``) to
ten decimal places, through the official SDKs, over graduated tiers with rates whose products need
Lava's rounding. A percentage meter (Lava reports no provider cost to the sidecar) is null."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from proxy.billing import AsyncLavaClient, TierSpec
from proxy.emulator.server import running_local_gateway
from proxy.lifecycle import running_sidecar
from proxy.secret import Secret

from ..conftest import TEST_SECRET
from ..stack import stack_settings

pytestmark = pytest.mark.timeout(120)
KEY = Secret(TEST_SECRET)
TEN = Decimal("1e-10")
#: Tier starts low enough for a handful of mock responses to cross them; rates with many digits.
TIERS = [TierSpec(0, "3.1234567"), TierSpec(60, "1.0000003"), TierSpec(150, "0.0000071")]


async def test_charges_equal_what_the_local_lava_billed(tmp_path: Path) -> None:
    async with running_local_gateway(KEY) as gw, \
            AsyncLavaClient(base_url=gw.url, secret_key=KEY) as lava:
        chat = await lava.meters.create(name="Chat", meter_slug="chat", tiers=TIERS)
        calls = await lava.meters.create(name="Calls", meter_slug="calls", tier_type="requests",
                                         tiers=[TierSpec(0, "0.0033333"), TierSpec(3, "0.0011")])
        markup = await lava.meters.create(name="Markup", meter_slug="markup",
                                          rate_type="percentage", rate="12.5")
        plan = await lava.plans.create(name="Pro", period_amount="50", included_credit="50",
                                       meter_ids=[chat.meter_id, calls.meter_id, markup.meter_id])
        customers = []
        for i in range(3):
            session = await lava.checkout_sessions.create(plan_id=plan.plan_id)
            done = await lava.checkout_sessions.complete_local(
                session.checkout_session_id, phone=f"+1555020{i:04d}", first_name=f"P{i}")
            assert done.customer_id is not None
            customers.append(done.customer_id)

        settings = stack_settings(gw.url, tmp_path)
        assert settings.meters == ()
        assert settings.pricing.from_lava
        async with running_sidecar(dataclasses.replace(settings)) as sc:
            prices = sc.app.prices
            assert prices is not None
            async with asyncio.timeout(10):
                await prices.loaded.wait()
            for n, customer in enumerate(customers):
                await traffic(sc.url, customer, "chat", 3 + 2 * n)
                await traffic(sc.url, customer, "calls", 2 + n)
            await traffic(sc.url, customers[0], "markup", 2)
            await asyncio.sleep(0.05)  # the last handler records as it unwinds
            async with aiohttp.ClientSession() as http, http.get(sc.admin_url + "/usage") as r:
                usage: Any = await r.json()
        lines = [json.loads(line) for line in (tmp_path / "usage.jsonl").read_text().splitlines()]

        # Per request: the usage log's charge is the charge on Lava's request record.
        billed = {r.request_id: r async for r in lava.requests.iter(limit=100)}
        assert len(lines) == len(billed) > 20
        for line in lines:
            record = billed[line["lava_request_id"]]
            if line["meter"] == "markup":
                assert line["charge_usd"] is None
                assert record.charge.amount > 0
            else:
                assert Decimal(line["charge_usd"]) == record.charge.amount, line
        # Lava's rounding mattered somewhere: some charge has more than 10 digits unrounded.
        assert any(Decimal(ln["charge_usd"]).as_tuple().exponent == -10 for ln in lines
                   if ln["charge_usd"] is not None)

        # Per customer: /usage equals Lava's usage totals to ten decimal places.
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for customer in customers[1:]:
            mine = usage["customers"][customer]["total"]
            theirs = (await lava.usage.get(start=today, customer_id=customer)).totals
            assert Decimal(mine["charge_usd"]).quantize(TEN) == theirs.total_charge.quantize(TEN)
            assert mine["unpriced"] == 0
        first = usage["customers"][customers[0]]
        assert first["meters"]["markup"]["charge_usd"] is None
        assert first["meters"]["markup"]["unpriced"] == 2
        assert first["total"]["unpriced"] == 2
        # What could be priced still adds up: Lava's total less what it billed on the markup meter.
        theirs = (await lava.usage.get(start=today, customer_id=customers[0])).totals
        on_markup = sum((billed[ln["lava_request_id"]].charge.amount for ln in lines
                         if ln["meter"] == "markup"), Decimal(0))
        assert Decimal(first["total"]["charge_usd"]).quantize(TEN) == (
            theirs.total_charge - on_markup).quantize(TEN)


async def traffic(url: str, customer: str, meter: str, n: int) -> None:
    """``n`` requests: OpenAI and Anthropic, streamed and not, as the SDKs send them."""
    headers = {"X-Lava-Customer-Id": customer, "X-Lava-Meter": meter}
    msgs: Any = [{"role": "user", "content": f"Hello from {customer}, request for {meter}."}]
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="app-key", max_retries=0,
                                  default_headers=headers) as oa, \
            anthropic.AsyncAnthropic(base_url=url + "/anthropic", api_key="app-key",
                                     max_retries=0, default_headers=headers) as an:
        for i in range(n):
            if i % 4 == 0:
                await oa.chat.completions.create(model="gpt-4o-mini", messages=msgs)
            elif i % 4 == 1:
                async for _ in await oa.chat.completions.create(model="gpt-4o-mini",
                                                                messages=msgs, stream=True):
                    pass
            elif i % 4 == 2:
                await an.messages.create(model="claude-haiku-4-5", max_tokens=40, messages=msgs)
            else:
                async with an.messages.stream(model="claude-haiku-4-5", max_tokens=40,
                                              messages=msgs) as stream:
                    await stream.get_final_message()
