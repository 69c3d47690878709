"""A misbehaving Lava lists absurd meters beside good ones, to a real ``lava-sidecar serve``: a rate
of 9e999999, 100,000 tiers, a meter without its ``meter_id``, one with a tier that is not a number.
The good meters are priced; each bad one is skipped with its reason in the log and counted; no
usage line grows (issue 24: 1 MB lines); ``/usage`` answers (it raised ``decimal.Overflow``).

The fake Lava is the project's emulator (its forward path answers the requests) with a
``GET /v1/meters`` route that lists what a broken Lava might. Throughput with these meters is
a benchmark's business (``python -m bench.billing_data prices``): here the figures print with
``pytest -s``, and nothing about speed is asserted."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from proxy.emulator.server import running_gateway
from proxy.usagelog.line import MAX_LINE_BYTES

from ..conftest import TEST_SECRET
from .harness import CHAT, body_for
from .process import eventually, sidecar_process

pytestmark = pytest.mark.timeout(120)


def meter(slug: str, tiers: list[tuple[Any, str]], tier_type: str = "tokens_1m") -> dict[str, Any]:
    return {"meter_id": f"mtr_{slug}", "meter_slug": slug, "name": slug, "rate_type": "fixed",
            "tier_type": tier_type, "created_at": "2026-09-21T14:13:20Z",
            "tiers": [{"start": s, "rate": r, "type": tier_type} for s, r in tiers]}


def listing() -> list[dict[str, Any]]:
    no_id = meter("no-id", [(0, "1")])
    del no_id["meter_id"]
    not_a_number = meter("nan-ish", [(0, "1")])
    not_a_number["tiers"][0]["rate"] = {"usd": 1}
    return [
        meter("chat", [(0, "3.00"), (1_000_000, "1.50")]),
        meter("huge-rate", [(0, "9e999999")]),
        meter("many-tiers", [(i * 10, "1") for i in range(100_000)]),
        no_id,
        not_a_number,
        meter("calls", [(0, "0.01")], tier_type="requests"),
    ]


async def metrics(admin: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(admin + "/metrics") as r:
        text = await r.text()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if not s.labels}


async def burst(url: str, meter_slug: str, n: int, concurrency: int = 4) -> float:
    """``n`` chat requests on ``meter_slug`` over keep-alive connections; returns requests/s."""
    body = body_for(CHAT, stream=False)
    headers = {"Content-Type": "application/json", "X-Lava-Customer-Id": "cus_prices",
               "X-Lava-Meter": meter_slug}
    left = list(range(n))

    async def worker(http: aiohttp.ClientSession) -> None:
        while left:
            left.pop()
            async with http.post(url + CHAT, data=body, headers=headers) as r:
                assert r.status == 200
                await r.read()

    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def test_absurd_meters_skip_themselves_and_nothing_else_changes(tmp_path: Path) -> None:
    meters = listing()
    listed = 0

    async def list_meters(request: web.Request) -> web.Response:
        nonlocal listed
        listed += 1
        return web.json_response({"data": meters, "has_more": False, "next_cursor": None})

    def routes(app: web.Application) -> None:
        app.router.add_get("/v1/meters", list_meters)

    async with running_gateway(TEST_SECRET, extra_routes=routes) as gw, \
            sidecar_process(tmp_path, gw.url, client="lean",
                            pricing={"from_lava": True, "refresh_seconds": 300}) as sp:
        async def priced() -> bool:
            return (await metrics(sp.admin_url)).get("lava_sidecar_price_catalog_meters") == 2

        await eventually(priced, 30)
        figures = [(slug, round(await burst(sp.url, slug, 150)))
                   for slug in ("chat", "huge-rate", "many-tiers", "calls", "chat")]
        async with aiohttp.ClientSession() as http, http.get(sp.admin_url + "/usage") as r:
            assert r.status == 200
            usage = await r.json()
        scraped = await metrics(sp.admin_url)
        sp.terminate()
        assert await sp.exit_code(30) == 0

    print(f"\nrequests/s per meter (4 connections, 150 requests each): {figures}")
    assert listed >= 1
    assert scraped["lava_sidecar_price_catalog_skipped_meters"] == 4
    assert scraped["lava_sidecar_price_catalog_refresh_errors_total"] == 0
    assert scraped["lava_sidecar_usage_log_truncated_fields_total"] == 0  # nothing even came close

    # One warning names each skipped meter and why.
    [warning] = [d["msg"] for d in sp.logs() if "cannot be priced" in d.get("msg", "")]
    assert "4 meters cannot be priced here" in warning
    assert "'huge-rate': a tier's rate is above 1,000,000" in warning
    assert "'many-tiers': more than 100 tiers (100,000)" in warning
    assert "'no-id': unreadable (meter.meter_id: expected a string)" in warning
    assert "'nan-ish': unreadable (tier.rate: expected a decimal string)" in warning

    # Every line small; the good meters priced, the absurd ones null (unknown, not free).
    raw = sp.usage_log.read_bytes().splitlines(keepends=True)
    assert len(raw) == 750
    assert max(len(line) for line in raw) < 1024 < MAX_LINE_BYTES
    lines = [json.loads(line) for line in raw]
    charges: dict[str, set[bool]] = {}
    for line in lines:
        charges.setdefault(line["meter"], set()).add(line["charge_usd"] is None)
    assert charges == {"chat": {False}, "calls": {False}, "huge-rate": {True}, "many-tiers": {True}}
    assert {Decimal(line["charge_usd"]) for line in lines if line["meter"] == "calls"} == {
        Decimal("0.01")}

    # /usage: every meter's total, the priced ones summed, the others counted as unpriced.
    cus = usage["customers"]["cus_prices"]["meters"]
    assert cus["calls"]["charge_usd"] == "1.50"  # 150 requests at 0.01
    assert (cus["huge-rate"]["charge_usd"], cus["huge-rate"]["unpriced"]) == (None, 150)
    assert usage["meters"]["chat"]["requests"] == 300
    assert usage["total"]["requests"] == 750
