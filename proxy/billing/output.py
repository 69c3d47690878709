"""How ``lava-sidecar billing`` prints results: JSON (every field, secrets as hints only) or a
compact table with the columns a person looks at first."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..money import usd
from ..secret import Secret
from .models import CheckoutSession, Customer, Meter, Plan, Subscription
from .models_usage import RequestRecord, UsageReport

Row = Sequence[str]


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Secret):
        return value.hint()   # a printed secret would end up in shell history and CI logs
    raise TypeError(f"cannot print a {type(value).__name__}")


def to_json(result: object) -> str:
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        doc: Any = _asdict(result)
    elif isinstance(result, list | tuple):
        doc = [_asdict(r) if dataclasses.is_dataclass(r) else r for r in result]
    else:
        doc = result
    return json.dumps(doc, default=_plain, indent=2, ensure_ascii=False)


def _asdict(obj: object) -> dict[str, object]:
    # dataclasses.asdict deep-copies Secret too, which refuses to pickle/copy: walk by hand.
    out: dict[str, object] = {}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = _asdict(value)
        elif isinstance(value, tuple):
            value = [_asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
        out[f.name] = value
    return out


def money(value: Decimal) -> str:
    """``17.0000000000`` → ``17.00``, ``0.0045000000`` → ``0.0045``: ``proxy.money.usd``, the
    one format of every amount the sidecar prints."""
    return usd(value)


def table(header: Row, rows: Sequence[Row]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip()
             for r in (header, *rows)]
    return "\n".join(lines)


def _meters(items: Sequence[Meter]) -> str:
    return table(("METER_ID", "SLUG", "NAME", "RATE_TYPE", "TIER_TYPE", "TIERS"),
                 [(m.meter_id, m.meter_slug, m.name, m.rate_type, m.tier_type or "",
                   ", ".join(f"{t.start:f}→{t.rate:f}" for t in m.tiers)) for m in items])


def _plans(items: Sequence[Plan]) -> str:
    return table(("PLAN_ID", "NAME", "PER_PERIOD", "CREDIT", "INTERVAL", "METERS"),
                 [(p.plan_id, p.name, money(p.period_amount), money(p.included_credit),
                   p.billing_interval, ", ".join(m.name for m in p.linked_meters))
                  for p in items])


def _sessions(items: Sequence[CheckoutSession]) -> str:
    return table(("CHECKOUT_SESSION_ID", "MODE", "PLAN_ID", "CUSTOMER_ID", "COMPLETED"),
                 [(c.checkout_session_id, c.checkout_mode, c.plan_id or "", c.customer_id or "",
                   c.completed_at.isoformat() if c.completed_at else "no") for c in items])


def _customers(items: Sequence[Customer]) -> str:
    return table(("CUSTOMER_ID", "REFERENCE_ID", "CONTACT", "PLAN", "STATUS"),
                 [(c.customer_id, c.reference_id or "",
                   c.contact.email or c.contact.phone or "",
                   (c.subscription.name or c.subscription.plan_id) if c.subscription else "",
                   c.subscription.status if c.subscription else "none") for c in items])


def _subscriptions(items: Sequence[Subscription]) -> str:
    return table(("SUBSCRIPTION_ID", "PLAN", "STATUS", "CREDIT_LEFT", "CYCLE", "BUNDLES",
                  "CYCLE_ENDS"),
                 [(s.subscription_id, s.plan_name or s.plan_id, s.status,
                   money(s.credits.total_remaining), money(s.credits.cycle_remaining),
                   money(s.credits.bundle_remaining),
                   s.cycle_end_at.isoformat() if s.cycle_end_at else "") for s in items])


def _requests(items: Sequence[RequestRecord]) -> str:
    return table(("REQUEST_ID", "WHEN", "CUSTOMER_ID", "MODEL", "TOKENS", "COST", "CHARGE"),
                 [(r.request_id, r.timestamp.isoformat() if r.timestamp else "",
                   r.customer_id or "(merchant)", r.model or "", str(r.model_usage.total_tokens),
                   money(r.cost), money(r.charge.amount)) for r in items])


def _usage(report: UsageReport) -> str:
    rows = [(d.date, str(d.totals.total_requests), str(d.totals.total_usage_tokens),
             money(d.totals.total_cost), money(d.totals.total_charge)) for d in report.items]
    t = report.totals
    rows.append(("TOTAL", str(t.total_requests), str(t.total_usage_tokens), money(t.total_cost),
                 money(t.total_charge)))
    return table(("DATE", "REQUESTS", "TOKENS", "COST", "CHARGE"), rows)


_TABLES: tuple[tuple[type, Callable[[Any], str]], ...] = (
    (Meter, _meters), (Plan, _plans), (CheckoutSession, _sessions), (Customer, _customers),
    (Subscription, _subscriptions), (RequestRecord, _requests),
)


def to_table(result: object) -> str:
    if isinstance(result, UsageReport):
        return _usage(result)
    items = list(result) if isinstance(result, list | tuple) else [result]
    if not items:
        return "(none)"
    for cls, render in _TABLES:
        if all(isinstance(i, cls) for i in items):
            return render(items)
    return to_json(result)
