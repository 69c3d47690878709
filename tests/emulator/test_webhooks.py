"""Webhook delivery to a real receiver on loopback: signature, retries, bounds, and the whole
path from a checkout completed over the REST API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.emulator.rest import create_app
from proxy.emulator.webhooks import SIGNATURE_HEADER, Delivery, WebhookDispatcher, envelope

from .accounts_setup import World, world
from .test_rest import TOKENS_METER, Client, call


@dataclass
class Receiver:
    """Answers ``fail_first`` requests with 500, then 200; keeps every body it was sent."""

    server: TestServer
    fail_first: int = 0
    got: list[tuple[bytes, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    want: int = 1

    @property
    def url(self) -> str:
        return str(self.server.make_url("/hooks"))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    rx: Receiver

    async def hook(request: web.Request) -> web.Response:
        rx.got.append((await request.read(), request.headers.get(SIGNATURE_HEADER, "")))
        if len(rx.got) >= rx.want:
            rx.arrived.set()
        if len(rx.got) <= rx.fail_first:
            return web.Response(status=500)
        return web.Response(text="ok")

    app.router.add_post("/hooks", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    rx = Receiver(server)
    yield rx
    await server.close()


def signed(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def wait(rx: Receiver, n: int) -> None:
    rx.want = n
    if len(rx.got) >= n:
        return
    rx.arrived.clear()
    await asyncio.wait_for(rx.arrived.wait(), 10)


async def test_a_delivery_is_signed_over_the_raw_body(receiver: Receiver) -> None:
    d = WebhookDispatcher(retry_delays=())
    await d.start()
    body = envelope("customer.created", {"customer": {"customer_id": "con_1"}})
    assert d.submit(Delivery(receiver.url, "whsec_abc", body, "customer.created"))
    await wait(receiver, 1)
    await d.close()
    got_body, signature = receiver.got[0]
    assert got_body == body
    assert signature == signed(body, "whsec_abc")
    assert json.loads(got_body) == {"event": "customer.created",
                                    "data": {"customer": {"customer_id": "con_1"}}}
    assert d.stats.delivered == 1


async def test_failures_are_retried_then_delivered(receiver: Receiver) -> None:
    receiver.fail_first = 2
    d = WebhookDispatcher(retry_delays=(0.01, 0.01, 0.01))
    await d.start()
    d.submit(Delivery(receiver.url, "s", b"{}", "customer.deleted"))
    await wait(receiver, 3)
    await d.close()
    assert len(receiver.got) == 3
    assert (d.stats.delivered, d.stats.failed, d.stats.attempts) == (1, 0, 3)


async def test_retries_are_bounded(receiver: Receiver) -> None:
    receiver.fail_first = 100
    d = WebhookDispatcher(retry_delays=(0.01, 0.01))
    await d.start()
    d.submit(Delivery(receiver.url, "s", b"{}", "customer.deleted"))
    await wait(receiver, 3)
    for _ in range(200):  # the give-up is counted right after the third answer
        if d.stats.failed:
            break
        await asyncio.sleep(0.01)
    await d.close()
    assert len(receiver.got) == 3
    assert (d.stats.delivered, d.stats.failed) == (0, 1)


async def test_an_unreachable_receiver_is_a_failure_not_an_exception(
        unused_tcp_port: int) -> None:
    d = WebhookDispatcher(retry_delays=(), timeout=2)
    await d.start()
    d.submit(Delivery(f"http://127.0.0.1:{unused_tcp_port}/x", "s", b"{}", "e"))
    for _ in range(500):
        if d.stats.failed:
            break
        await asyncio.sleep(0.01)
    await d.close()
    assert d.stats.failed == 1


async def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    d = WebhookDispatcher(queue_size=2)   # not started: nothing drains the queue
    results = [d.submit(Delivery("http://127.0.0.1:9/", "s", b"{}", "e")) for _ in range(5)]
    assert results == [True, True, False, False, False]
    assert d.stats.dropped == 3
    assert "'s'" not in repr(Delivery("http://127.0.0.1:9/", "s", b"{}", "e"))


async def test_checkout_over_rest_reaches_the_merchants_receiver(
        receiver: Receiver, aiohttp_client: Callable[..., Awaitable[Client]]) -> None:
    dispatcher = WebhookDispatcher(retry_delays=(0.01,))
    w: World = world(deliver=dispatcher.submit)
    api = await aiohttp_client(create_app(w.accounts, dispatcher=dispatcher))
    hook: Any = await call(api, "POST", "/webhooks", {"name": "app", "url": receiver.url})
    m = await call(api, "POST", "/meters", TOKENS_METER)
    p = await call(api, "POST", "/plans", {"name": "Pro", "period_amount": "10",
                                           "meter_ids": [m["meter_id"]]})
    cs = await call(api, "POST", "/checkout_sessions", {
        "checkout_mode": "subscription", "origin_url": "http://x", "plan_id": p["plan_id"]})
    done = await call(api, "POST", f"/checkout_sessions/{cs['checkout_session_id']}/complete",
                      {"phone": "+15555550100"})
    await wait(receiver, 2)
    events = []
    for body, signature in receiver.got:
        assert signature == signed(body, hook["webhook_secret"])
        events.append(json.loads(body))
    assert [e["event"] for e in events] == ["customer.created",
                                            "customer.wallet.balance.updated"]
    assert all(e["data"]["customer"]["customer_id"] == done["customer_id"] for e in events)
    assert events[1]["data"]["credits"]["total_remaining"] == "10.0000000000"
