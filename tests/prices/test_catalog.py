"""The price catalog against the local Lava (the emulator's real REST API on loopback): every page
listed, a failed listing keeps the last good catalog and is logged once per change of state, the
config pin wins, the loop refreshes and closes."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from proxy.billing import AsyncLavaClient, TierSpec
from proxy.config import MeterPrice, Tier
from proxy.emulator.accounts import LocalAccounts
from proxy.emulator.server import RunningGateway, running_local_gateway
from proxy.metering import Pricing
from proxy.prices import PricingSettings
from proxy.prices.refresh import PriceCatalog, next_delay
from proxy.secret import Secret
from proxy.usage.base import Usage

from ..conftest import TEST_SECRET
from ..faults.process import free_port

D = Decimal
M = 1_000_000
KEY = Secret(TEST_SECRET)
pytestmark = pytest.mark.timeout(60)


def tokens(n: int) -> Usage:
    return Usage(input_tokens=n, source="provider")


@asynccontextmanager
async def lava() -> AsyncIterator[tuple[RunningGateway, AsyncLavaClient]]:
    async with running_local_gateway(KEY) as gw, \
            AsyncLavaClient(base_url=gw.url, secret_key=KEY) as client:
        yield gw, client


def price_catalog(gw: RunningGateway, pricing: Pricing, registry: CollectorRegistry, *,
                  page_size: int = 100, **cfg: float) -> PriceCatalog:
    return PriceCatalog(PricingSettings(**cfg), pricing, base_url=gw.url, secret_key=KEY,  # type: ignore[arg-type]
                        registry=registry, page_size=page_size)


def gauge(reg: CollectorRegistry, name: str) -> float | None:
    return reg.get_sample_value(name)


async def test_every_page_is_listed_and_priced() -> None:
    async with lava() as (gw, client):
        for i in range(7):
            await client.meters.create(name=f"m{i}", meter_slug=f"m{i}", rate=f"{i + 1}.00")
        await client.meters.create(name="graduated", meter_slug="graduated",
                                   tiers=[TierSpec(0, "5"), TierSpec(M, "3")])
        await client.meters.create(name="markup", meter_slug="markup", rate_type="percentage",
                                   rate="20")
        await client.meters.create(name="audio", meter_slug="audio", tier_type="minutes",
                                   tiers=[TierSpec(0, "0.10"), TierSpec(2, "0.05")])
        pricing, reg = Pricing([]), CollectorRegistry()
        cat = price_catalog(gw, pricing, reg, page_size=3)  # 10 meters: four pages
        assert await cat.refresh()
        await cat.aclose()
    assert set(cat.rates) == {*(f"m{i}" for i in range(7)), "graduated", "markup", "audio"}
    assert cat.loaded.is_set()
    assert pricing.charge("c", "m6", tokens(M)) == D(7)
    assert pricing.charge("c", "graduated", tokens(2 * M)) == D(8)            # 5 + 3
    assert pricing.charge("c", "audio", Usage(audio_seconds=D(180), source="provider")) == D("0.25")
    assert pricing.charge("c", "markup", tokens(10)) is None                  # no provider cost
    assert pricing.charge("c", "markup", tokens(10), provider_cost=D("0.5")) == D("0.1")
    assert pricing.charge("c", "nowhere", tokens(10)) is None                 # not a meter in Lava
    assert gauge(reg, "lava_sidecar_price_catalog_meters") == 10
    age = gauge(reg, "lava_sidecar_price_catalog_age_seconds")
    assert age is not None
    assert 0 <= age < math.inf
    assert gauge(reg, "lava_sidecar_price_catalog_refresh_errors_total") == 0


async def test_a_failed_listing_keeps_the_last_good_catalog_and_logs_once_per_change(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lava_sidecar.prices")
    async with lava() as (gw, client):
        meter = await client.meters.create(name="Chat", meter_slug="chat", rate="3.00")
        pricing, reg = Pricing([]), CollectorRegistry()
        cat = price_catalog(gw, pricing, reg)
        assert await cat.refresh()
        # Revoke the sidecar's key (with a second one): Lava now answers its listing 401.
        ops = await client.secret_keys.create(name="ops")
        assert ops.secret_key is not None
        async with AsyncLavaClient(base_url=gw.url, secret_key=ops.secret_key) as admin:
            keys = (await admin.secret_keys.list()).data
            [mine] = [k for k in keys if k.secret_key_id != ops.secret_key_id]
            await admin.secret_keys.delete(mine.secret_key_id)
            await admin.meters.update(meter.meter_id, tiers=[TierSpec(0, "4.00")])
        for _ in range(3):
            assert not await cat.refresh()
        assert pricing.charge("c", "chat", tokens(M)) == D(3)  # the last good price
        assert gauge(reg, "lava_sidecar_price_catalog_refresh_errors_total") == 3
        assert gauge(reg, "lava_sidecar_price_catalog_meters") == 1
        # The key is valid again: the next listing brings the new price.
        accounts = gw.state.accounts
        assert isinstance(accounts, LocalAccounts)
        accounts.add_secret_key(KEY, merchant_id=accounts.add_secret_key(ops.secret_key))
        assert await cat.refresh()
        assert await cat.refresh()
        await cat.aclose()
    assert pricing.charge("c", "chat", tokens(M)) == D(4)
    lines = [r.getMessage() for r in caplog.records if r.name == "lava_sidecar.prices"]
    assert len(lines) == 3, lines  # listed; failing (once, not three times); listed again
    assert "1 meters listed from Lava;" in lines[0]
    assert "LavaAuthError" in lines[1]
    assert "keeping the last good catalog (1 meters)" in lines[1]
    assert "listed from Lava again" in lines[2]
    assert all(TEST_SECRET not in line and "aks_test_" not in line for line in lines)


async def test_before_any_listing_there_are_no_prices_and_the_age_is_infinite(
        caplog: pytest.LogCaptureFixture) -> None:
    async with lava() as (gw, _):
        url = gw.url
    # The gateway is gone: nothing listens on its port.
    pricing, reg = Pricing([]), CollectorRegistry()
    cat = PriceCatalog(PricingSettings(timeout_seconds=5), pricing, base_url=url, secret_key=KEY,
                       registry=reg)
    assert not await cat.refresh()
    await cat.aclose()
    assert not cat.loaded.is_set()
    assert pricing.charge("c", "chat", tokens(M)) is None
    assert gauge(reg, "lava_sidecar_price_catalog_age_seconds") == math.inf
    assert gauge(reg, "lava_sidecar_price_catalog_meters") == 0
    [line] = [r.getMessage() for r in caplog.records if r.name == "lava_sidecar.prices"]
    assert "LavaConnectionError" in line
    assert "no prices from Lava yet" in line


async def test_meters_in_config_win_per_slug() -> None:
    async with lava() as (gw, client):
        await client.meters.create(name="Chat", meter_slug="chat", rate="3.00")
        await client.meters.create(name="Other", meter_slug="other", rate="2.00")
        pricing = Pricing([MeterPrice("chat", "tokens_1m", (Tier(D(0), D("1.50")),))])
        cat = price_catalog(gw, pricing, CollectorRegistry())
        assert await cat.refresh()
        await cat.aclose()
    assert pricing.charge("c", "chat", tokens(M)) == D("1.50")   # pinned
    assert pricing.charge("c", "other", tokens(M)) == D(2)       # from Lava


async def test_the_loop_lists_at_start_and_again_every_refresh() -> None:
    async with lava() as (gw, client):
        pricing, reg = Pricing([]), CollectorRegistry()
        cat = price_catalog(gw, pricing, reg, refresh_seconds=0.1)
        cat.start()
        async with asyncio.timeout(10):
            await cat.loaded.wait()
        assert cat.rates == {}
        await client.meters.create(name="Late", meter_slug="late", rate="1.00")
        async with asyncio.timeout(10):
            while True:  # a later listing (bounded wait, not a timing assertion)
                if pricing.priced("late"):
                    break
                await asyncio.sleep(0.02)
        await cat.aclose()
    assert pricing.charge("c", "late", tokens(M)) == D(1)


def test_after_a_failure_the_next_listing_comes_sooner_backing_off() -> None:
    assert [next_delay(300, k) for k in range(0, 6)] == [300, 0.5, 1, 2, 4, 8]
    assert next_delay(300, 12) == 300  # never later than the period
    assert next_delay(300, 10_000) == 300
    assert next_delay(0.2, 3) == 0.2


async def test_a_sidecar_started_before_lava_gets_its_prices_soon_after() -> None:
    port = free_port()
    pricing, reg = Pricing([]), CollectorRegistry()
    cat = PriceCatalog(PricingSettings(timeout_seconds=5), pricing,  # refresh: every 300 s
                       base_url=f"http://127.0.0.1:{port}", secret_key=KEY, registry=reg)
    cat.start()
    async with asyncio.timeout(10):
        await cat.tried.wait()
    assert not cat.loaded.is_set()
    async with running_local_gateway(KEY, port=port) as gw, \
            AsyncLavaClient(base_url=gw.url, secret_key=KEY) as client:
        await client.meters.create(name="Chat", meter_slug="chat", rate="3.00")
        async with asyncio.timeout(20):  # retries at 0.5, 1, 2, 4 s: well before 300 s
            await cat.loaded.wait()
        await cat.aclose()
    assert pricing.charge("c", "chat", tokens(M)) == D(3)
    assert (gauge(reg, "lava_sidecar_price_catalog_refresh_errors_total") or 0) >= 1


async def test_a_meter_created_in_lava_since_the_last_listing_is_listed_soon() -> None:
    async with lava() as (gw, client):
        pricing, reg = Pricing([]), CollectorRegistry()
        cat = PriceCatalog(PricingSettings(), pricing, base_url=gw.url, secret_key=KEY,  # 300 s
                           registry=reg, relist_seconds=0.1)
        cat.start()
        await asyncio.wait_for(cat.loaded.wait(), 10)
        await client.meters.create(name="New", meter_slug="new", rate="2.00")
        # A response on it, before the catalog knows it: null, and the next listing comes early.
        assert pricing.charge("c", "new", tokens(M)) is None
        async with asyncio.timeout(10):
            while True:  # bounded wait, not a timing assertion
                if pricing.priced("new"):
                    break
                await asyncio.sleep(0.02)
        assert pricing.charge("c", "new", tokens(M)) == D(2)
        # A slug Lava does not have either wakes one listing, then no more until the period.
        before, listed_at = cat.listings, cat.listed_at
        for _ in range(50):
            assert pricing.charge("c", "ghost", tokens(1)) is None
        async with asyncio.timeout(10):
            while True:
                if cat.listed_at != listed_at:  # that listing ended
                    break
                await asyncio.sleep(0.02)
        for _ in range(50):
            pricing.charge("c", "ghost", tokens(1))
        await asyncio.sleep(0.5)  # five relist intervals: nothing may happen (a non-event)
        assert cat.listings == before + 1
        await cat.aclose()
    assert pricing.on_unknown is None
