"""Every outcome and source a usage line can carry means one thing (issue 23, README "Usage line"):
a request Lava refused (400 unknown meter, 401 unknown customer, 402 no credit) is
``upstream_refused`` with ``source: none`` (nothing to bill), not ``ok``; a models list is ``ok``
with ``source: none``, not ``missing``; neither raises ``missing_usage``. Driven through a real
``lava-sidecar serve`` (text access log) with the official SDK, against the local Lava with real
accounts; then ``/usage``, ``/metrics``, the access log and ``reconcile`` agree on them. Lines
written before (``outcome: ok`` at 402) still decode and reconcile the same."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from proxy.emulator.accounts.catalog import create_plan
from proxy.emulator.accounts.customers import create_customer, subscribe
from proxy.emulator.seed import seed
from proxy.emulator.server import running_local_gateway
from proxy.reconcile import Window
from proxy.reconcile.sources import audit
from proxy.usagelog.line import decode_line

from .conftest import TEST_SECRET
from .faults.process import sidecar_process
from .test_accesslog import access_lines

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]
HI: Any = [{"role": "user", "content": "hi"}]


async def _send(url: str) -> dict[str, int]:
    """The four kinds of answer; the status each got."""
    got = {}

    def client(customer: str, meter: str = "chat-tokens") -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=url + "/v1", api_key="placeholder", max_retries=0,
                                  default_headers={"X-Lava-Customer-Id": customer,
                                                   "X-Lava-Meter": meter})

    async with client("cus_123") as ok:
        await ok.chat.completions.create(model="gpt-4o-mini", messages=HI)
        got["chat"] = 200
        assert [m.id async for m in ok.models.list()]
        got["models"] = 200
    for name, (customer, meter) in {"unknown meter": ("cus_123", "no-such-meter"),
                                    "unknown customer": ("cus_nobody", "chat-tokens"),
                                    "no credit": ("cus_broke", "chat-tokens")}.items():
        async with client(customer, meter) as refused:
            with pytest.raises(openai.APIStatusError) as exc:
                await refused.chat.completions.create(model="gpt-4o-mini", messages=HI)
            got[name] = exc.value.status_code
    return got


async def test_lava_refusals_and_calls_with_nothing_to_bill(tmp_path: Path) -> None:
    async with running_local_gateway(TEST_SECRET) as gw:
        accounts: Any = gw.state.accounts
        merchant = accounts.merchant_for(TEST_SECRET)
        seed(accounts, merchant)
        scope = accounts.scope(merchant)  # a customer whose plan has no credit: Lava's 402
        meter = scope.meter_slugs.get("chat-tokens").meter_id
        broke = create_plan(scope, name="Empty", period_amount=Decimal(0), billing_interval="month",
                            included_credit=Decimal(0), meter_ids=[meter])
        subscribe(scope, create_customer(scope, customer_id="cus_broke"), broke)
        async with sidecar_process(tmp_path, gw.url, logging={"format": "text",
                                                              "access_log": True}) as sp:
            statuses = await _send(sp.url)
            async with httpx.AsyncClient(base_url=sp.admin_url) as admin:
                await asyncio.sleep(0.3)  # the usage log's flush interval (50 ms) and then some
                usage = (await admin.get("/usage")).json()
                metrics = (await admin.get("/metrics")).text
            sp.terminate()
            assert await sp.exit_code(within=30) == 0
        assert statuses == {"chat": 200, "models": 200, "unknown meter": 400,
                            "unknown customer": 401, "no credit": 402}
        lines = sp.records()
        by_status = {(x["api"], x["status"]): x for x in lines}
        assert len(by_status) == len(lines) == 5
        assert (by_status["chat", 200]["outcome"], by_status["chat", 200]["source"]) == ("ok", "provider")
        assert (by_status["models", 200]["outcome"], by_status["models", 200]["source"]) == ("ok", "none")
        for status in (400, 401, 402):
            refused = by_status["chat", status]
            assert (refused["outcome"], refused["source"], refused["error_code"]) == (
                "upstream_refused", "none", None), refused  # Lava's refusal, not the sidecar's
            assert refused["lava_request_id"]
            assert refused["charge_usd"] is None
        # Nothing is missing: every request either reported usage or had none to report.
        assert usage["total"]["missing_usage"] == 0
        assert usage["total"]["unpriced"] == 0
        assert usage["total"]["requests"] == 5
        # The requests counter keeps the status as its code: the 402 alert still sees Lava's 402s.
        assert 'code="402"' in metrics
        assert 'source="none"' in metrics
        assert 'source="missing"' not in metrics
        # The access log shows the status beside the outcome.
        access = {(a["status"], a["outcome"]) for a in access_lines(sp, "text")}
        assert access == {(200, "ok"), (400, "upstream_refused"), (401, "upstream_refused"),
                          (402, "upstream_refused")}
        # reconcile: the three refusals are Lava's, never billed; the rest agree.
        report, _ = await asyncio.to_thread(audit, [str(sp.usage_log)], Window(None, None),
                                            base_url=gw.url, secret_key=TEST_SECRET)
    assert report.refused_by_lava == 3
    assert report.agrees


def test_lines_written_before_still_decode() -> None:
    """A Lava refusal logged before issue 23 (``ok`` at 402, ``missing``) decodes as it was."""
    old = {"time": "2026-12-01T00:00:00.000000Z", "request_id": "sc_1", "lava_request_id": "req_1",
           "customer": "cus_1", "meter": "m", "identity": "header", "provider": "openai",
           "api": "chat", "model": "gpt-4o-mini", "status": 402, "stream": False,
           "source": "missing", "partial": False, "outcome": "ok", "duration": 0.01,
           "charge_usd": None}
    decoded = decode_line(json.dumps(old).encode())
    assert decoded is not None
    rec, charge = decoded
    assert (rec.outcome, rec.status, rec.usage.source, charge) == ("ok", 402, "missing", None)
    new = {**old, "outcome": "upstream_refused", "source": "none"}
    decoded = decode_line(json.dumps(new).encode())
    assert decoded is not None
    assert (decoded[0].outcome, decoded[0].usage.source) == ("upstream_refused", "none")
