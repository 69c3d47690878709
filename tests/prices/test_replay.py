"""A restart prices the usage-log history with Lava's catalog: the replay waits for the first
listing, so ``/usage`` after a restart equals ``/usage`` before it (no ``meters:`` in config)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from proxy.billing import AsyncLavaClient, TierSpec
from proxy.emulator.server import running_local_gateway
from proxy.lifecycle import running_sidecar
from proxy.secret import Secret

from ..conftest import TEST_SECRET
from ..stack import stack_settings
from .test_end_to_end import traffic

pytestmark = pytest.mark.timeout(120)
KEY = Secret(TEST_SECRET)


async def test_the_history_is_priced_with_the_catalog_after_a_restart(tmp_path: Path) -> None:
    async with running_local_gateway(KEY) as gw, \
            AsyncLavaClient(base_url=gw.url, secret_key=KEY) as lava:
        chat = await lava.meters.create(name="Chat", meter_slug="chat",
                                        tiers=[TierSpec(0, "3.1234567"), TierSpec(100, "1.5")])
        plan = await lava.plans.create(name="Pro", period_amount="50", meter_ids=[chat.meter_id])
        session = await lava.checkout_sessions.create(plan_id=plan.plan_id)
        done = await lava.checkout_sessions.complete_local(session.checkout_session_id,
                                                           phone="+15550300000", first_name="R")
        assert done.customer_id is not None
        settings = stack_settings(gw.url, tmp_path)

        async with running_sidecar(settings) as first:
            assert first.app.prices is not None
            await asyncio.wait_for(first.app.prices.loaded.wait(), 10)
            await traffic(first.url, done.customer_id, "chat", 6)
            await asyncio.sleep(0.05)  # the last handler records as it unwinds
            before: Any = first.recorder.totals.snapshot()["customers"]

        async with running_sidecar(settings) as again:
            assert again.app.replay is not None
            assert await asyncio.wait_for(again.app.replay, 20) == 6
            after: Any = again.recorder.totals.snapshot()["customers"]
    assert before[done.customer_id]["total"]["charge_usd"] is not None
    assert after == before
