"""Customer isolation under load: many concurrent requests, customers interleaved on the same client
and upstream connections, named by header, by a mapped local API key, and by both at once. Every
request that reaches Lava carries its own customer's token, and is recorded for that customer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from proxy.config import ApiKeyBinding, Identity
from proxy.emulator.providers import Pacing
from proxy.secret import Secret

from ..faults.harness import CHAT, MESSAGES, body_for, fault_stack

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

REQUESTS = 1500
CONCURRENCY = 150
KEYS = {"sk-local-a": ("cus_key_a", "meter_a"), "sk-local-b": ("cus_key_b", "meter_b")}
IDENTITY = Identity(api_keys=tuple(ApiKeyBinding(Secret(k), c, m) for k, (c, m) in KEYS.items()),
                    default_meter="meter_default")


def plan(n: int) -> tuple[str, bool, dict[str, str], tuple[str, str]]:
    """Request ``n``: path, stream, headers, and the (customer, meter) it must be billed to."""
    named = f"cus_h{n % 13}"
    kind = n % 6
    if kind == 0:
        return CHAT, False, {"X-Lava-Customer-Id": named}, (named, "meter_default")
    if kind == 1:
        return MESSAGES, True, {"x-api-key": "sk-local-a"}, KEYS["sk-local-a"]
    if kind == 2:  # both: the header wins, the key's meter does not leak in
        return CHAT, True, {"Authorization": "Bearer sk-local-b", "X-Lava-Customer-Id": named}, \
            (named, "meter_default")
    if kind == 3:
        return MESSAGES, False, {"x-api-key": "sk-unbound", "X-Lava-Customer-Id": named}, \
            (named, "meter_default")
    if kind == 4:
        return CHAT, False, {"Authorization": "Bearer sk-local-b"}, KEYS["sk-local-b"]
    return MESSAGES, True, {"X-Lava-Customer-Id": named, "X-Lava-Meter": f"m{n % 7}"}, (named, f"m{n % 7}")


async def test_no_request_carries_another_customers_token(tmp_path: Path, client_kind: str) -> None:
    options = {"pacing": Pacing(delay=0.002), "seen_limit": REQUESTS * 2}
    async with fault_stack(tmp_path, client_kind, gateway_options=options, identity=IDENTITY) as s:
        sem = asyncio.Semaphore(CONCURRENCY)
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def one(n: int) -> int:
                path, stream, headers, _ = plan(n)
                async with sem, http.post(s.side.url + path, data=body_for(path, stream=stream),
                                          headers={**headers, "Content-Type": "application/json",
                                                   "x-iso-tag": str(n)}) as resp:
                    await resp.read()
                    return resp.status

            statuses = await asyncio.gather(*(one(n) for n in range(REQUESTS)))
        assert statuses == [200] * REQUESTS
        for seen in s.gw.seen:
            await seen.finished()
        await s.side.settled()
        seen_by_id = {seen.request_id: seen for seen in s.gw.seen}
    assert len(seen_by_id) == REQUESTS
    tags = set()
    for seen in seen_by_id.values():
        tag = seen.header("x-iso-tag")
        assert tag is not None
        tags.add(tag)
        assert seen.token is not None
        assert (seen.token.customer_id, seen.token.meter_slug) == plan(int(tag))[3], tag
        # The app's credential never travels; only the customer's token does.
        assert not any(k in v for _, v in seen.headers for k in (*KEYS, "sk-unbound"))
    assert len(tags) == REQUESTS
    records = s.side.records()
    assert len(records) == REQUESTS
    for rec in records:
        tag = seen_by_id[rec["lava_request_id"]].header("x-iso-tag")
        assert tag is not None
        assert (rec["customer"], rec["meter"]) == plan(int(tag))[3]
