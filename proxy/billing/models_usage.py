"""Lava's usage-side objects as frozen dataclasses: request records (lava-api.md 4.1), the
``/usage`` report (4.6), webhooks and secret keys, list pages and delete answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Generic, Self, TypeVar

from ..secret import Secret
from .decode import Obj

T = TypeVar("T")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ModelUsage:
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_characters: int
    output_characters: int
    input_seconds: Decimal
    output_seconds: Decimal
    input_cost: Decimal
    output_cost: Decimal
    total_cost: Decimal

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc or {}, "model_usage")
        i, out = o.integer("input_tokens", 0), o.integer("output_tokens", 0)
        return cls(i, out, o.integer("total_tokens", i + out), o.integer("input_characters", 0),
                   o.integer("output_characters", 0), o.dec("input_seconds", ZERO),
                   o.dec("output_seconds", ZERO), o.dec("input_cost", ZERO),
                   o.dec("output_cost", ZERO), o.dec("total_cost", ZERO))


@dataclass(frozen=True, slots=True)
class ChargeLine:
    tier_start: Decimal
    tier_rate: Decimal
    tier_type: str | None
    tokens: Decimal
    characters: Decimal
    seconds: Decimal
    cost: Decimal

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "charge.breakdown[]")
        tier = o.obj("tier")
        return cls(tier.dec("start"), tier.dec("rate"), tier.opt_text("type"),
                   o.dec("tokens", ZERO), o.dec("characters", ZERO), o.dec("seconds", ZERO),
                   o.dec("cost", ZERO))


@dataclass(frozen=True, slots=True)
class Charge:
    amount: Decimal
    rate_type: str | None
    breakdown: tuple[ChargeLine, ...]

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc or {}, "charge")
        return cls(o.dec("amount", ZERO), o.opt_text("rate_type"),
                   o.items("breakdown", ChargeLine.from_json))


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: str
    status: str
    customer_id: str | None
    meter_id: str | None
    provider: str | None
    provider_key_type: str | None
    model: str | None
    endpoint: str | None
    response_id: str | None
    model_usage: ModelUsage
    cost: Decimal
    charge: Charge
    metadata: dict[str, str]
    timestamp: datetime | None
    created_at: datetime | None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "request")
        return cls(
            o.text("request_id"), o.opt_text("status") or "completed", o.opt_text("customer_id"),
            o.opt_text("meter_id"), o.opt_text("provider"), o.opt_text("provider_key_type"),
            o.opt_text("model"), o.opt_text("endpoint"), o.opt_text("response_id"),
            ModelUsage.from_json(o.raw("model_usage")), o.dec("cost", ZERO),
            Charge.from_json(o.raw("charge")), o.str_map("metadata") or {},
            o.opt_when("timestamp"), o.opt_when("created_at"))


@dataclass(frozen=True, slots=True)
class UsageTotals:
    total_requests: int
    total_usage_tokens: int
    total_cost: Decimal
    total_charge: Decimal

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "usage totals")
        return cls(o.integer("total_requests", 0), o.integer("total_usage_tokens", 0),
                   o.dec("total_cost", ZERO), o.dec("total_charge", ZERO))


@dataclass(frozen=True, slots=True)
class UsageDay:
    date: str
    start: datetime | None
    end: datetime | None
    totals: UsageTotals

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "usage item")
        return cls(o.text("date"), o.opt_when("start"), o.opt_when("end"),
                   UsageTotals.from_json(doc))


@dataclass(frozen=True, slots=True)
class UsageReport:
    items: tuple[UsageDay, ...]
    totals: UsageTotals

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "usage")
        return cls(o.items("items", UsageDay.from_json), UsageTotals.from_json(o.raw("totals")))


@dataclass(frozen=True, slots=True)
class Webhook:
    webhook_id: str
    name: str | None
    url: str
    created_at: datetime | None
    #: Returned once, when the webhook is created; keep it to verify deliveries.
    webhook_secret: Secret | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "webhook")
        secret = o.opt_text("webhook_secret")
        return cls(o.text("webhook_id"), o.opt_text("name"), o.text("url"),
                   o.opt_when("created_at"), None if secret is None else Secret(secret))


@dataclass(frozen=True, slots=True)
class SecretKey:
    secret_key_id: str
    name: str | None
    secret_key_hint: str | None
    created_at: datetime | None
    #: The full key, returned once at creation only.
    secret_key: Secret | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "secret_key")
        raw = o.opt_text("secret_key")
        return cls(o.text("secret_key_id"), o.opt_text("name"), o.opt_text("secret_key_hint"),
                   o.opt_when("created_at"), None if raw is None else Secret(raw))


@dataclass(frozen=True, slots=True)
class Deleted:
    id: str | None
    deleted: bool

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "delete answer")
        return cls(o.opt_text("id"), o.flag("deleted", False) or o.flag("success", False))


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: ``{data, has_more, next_cursor}``."""

    data: tuple[T, ...]
    has_more: bool
    next_cursor: str | None

    @classmethod
    def parser(cls, item: Callable[[object], T]) -> Callable[[object], Page[T]]:
        def parse(doc: object) -> Page[T]:
            o = Obj(doc, "list")
            return Page(o.items("data", item, default_empty=False), o.flag("has_more", False),
                        o.opt_text("next_cursor"))
        return parse
