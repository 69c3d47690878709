"""Building a local Lava's accounts for tests: a settable clock, a merchant, and the seed flow
(meter → plan → checkout → complete) done through the accounts' own operations."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from proxy.emulator.accounts import (
    Customer,
    LocalAccounts,
    Meter,
    Plan,
    Scope,
    Tier,
    complete_checkout,
    create_checkout,
)
from proxy.emulator.accounts.catalog import create_meter, create_plan
from proxy.emulator.contracts import Served
from proxy.emulator.store import MemoryStore, Store
from proxy.emulator.webhooks import Delivery
from proxy.secret import Secret
from proxy.tokens import DecodedToken, decode
from proxy.usage.base import Usage

SECRET = "aks_test_emulator0123456789abcdef"
T0 = 1_790_000_000.0  # 2026-09-21T13:46:40Z


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    accounts: LocalAccounts
    merchant_id: str
    clock: Clock
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def scope(self) -> Scope:
        return self.accounts.scope(self.merchant_id)

    def events(self) -> list[str]:
        return [json.loads(d.body)["event"] for d in self.deliveries]


def world(store: Store | None = None, *, max_requests: int = 100_000,
          deliver: Callable[[Delivery], object] | None = None) -> World:
    """Deliveries are collected in ``World.deliveries`` unless ``deliver`` sends them."""
    clock = Clock()
    deliveries: list[Delivery] = []
    acc = LocalAccounts(store or MemoryStore(), clock=clock,
                        deliver=deliver or deliveries.append, max_requests=max_requests)
    mid = acc.add_secret_key(Secret(SECRET))
    return World(acc, mid, clock, deliveries)


def seed(w: World, *, rate: str = "3.00", period: str = "10", included: str | None = None,
         tiers: list[tuple[int, str]] | None = None) -> tuple[Meter, Plan, Customer]:
    """A tokens meter, a monthly plan linking it, and a customer subscribed through checkout."""
    s = w.scope
    meter = create_meter(s, name="Chat tokens", rate_type="fixed", tier_type="tokens_1m",
                         tiers=[Tier(Decimal(a), Decimal(r)) for a, r in (tiers or [(0, rate)])])
    plan = create_plan(s, name="Pro", period_amount=Decimal(period), billing_interval="month",
                       included_credit=None if included is None else Decimal(included),
                       meter_ids=[meter.meter_id])
    cs = create_checkout(s, checkout_mode="subscription", origin_url="http://localhost:3000",
                         plan_id=plan.plan_id)
    _, customer = complete_checkout(s, cs.checkout_session_id, phone="+15555550100",
                                    email="ada@example.com", first_name="Ada")
    w.accounts.flush_events()
    return meter, plan, customer


def token(customer: str | None, meter: str | None, *, disable_billing: bool = False,
          secret: str = SECRET) -> DecodedToken:
    from proxy.tokens import Billing, mint

    return decode(mint(Secret(secret), Billing(customer, meter, disable_billing=disable_billing)))


def served(request_id: str, *, input_tokens: int | None = 1000, output_tokens: int | None = 500,
           model: str = "gpt-5-nano", status: str = "completed", timestamp: float = 0.0,
           metadata: dict[str, str] | None = None) -> Served:
    return Served(request_id=request_id, provider="openai",
                  endpoint="POST https://api.openai.com/v1/chat/completions", model=model,
                  response_id="chatcmpl-1",
                  usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens,
                              source="provider"),
                  status=status, metadata=metadata or {}, timestamp=timestamp)
