"""Operations on what a merchant sells: meters, plans, credit bundles. Each function only builds a
``Call``; the sync and async clients run them (see ``client``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote

from .core import Call
from .errors import LavaValidationError
from .models import CreditBundle, Meter, Plan
from .models_usage import Deleted, Page

Amount = str | Decimal | int


def amount(value: Amount) -> str:
    return f"{value:f}" if isinstance(value, Decimal) else str(value)


def seg(ident: str) -> str:
    """An id as one path segment, whatever it holds."""
    return quote(ident, safe="")


def paging(limit: int | None, cursor: str | None,
           **filters: str | None) -> tuple[tuple[str, str], ...]:
    pairs = [(k, v) for k, v in filters.items() if v is not None]
    if limit is not None:
        pairs.append(("limit", str(limit)))
    if cursor is not None:
        pairs.append(("cursor", cursor))
    return tuple(pairs)


@dataclass(frozen=True, slots=True)
class TierSpec:
    """One pricing tier to send: from ``start`` units on, ``rate`` per unit of the tier type."""

    start: Amount
    rate: Amount

    def json(self) -> dict[str, str]:
        return {"start": amount(self.start), "rate": amount(self.rate)}


@dataclass(frozen=True, slots=True)
class BundleSpec:
    """A credit bundle to create with a plan (or, with an id, to change or delete on update)."""

    name: str
    cost: Amount
    credit_amount: Amount
    credit_bundle_id: str | None = None
    is_deleted: bool = False

    def json(self) -> dict[str, object]:
        doc: dict[str, object] = {"name": self.name, "cost": amount(self.cost),
                                  "credit_amount": amount(self.credit_amount)}
        if self.credit_bundle_id is not None:
            doc["credit_bundle_id"] = self.credit_bundle_id
        if self.is_deleted:
            doc["is_deleted"] = True
        return doc


def _tiers(tiers: Sequence[TierSpec] | None, rate: Amount | None) -> list[dict[str, str]] | None:
    if tiers is not None and rate is not None:
        raise LavaValidationError("give tiers or rate, not both", status=0,
                                  code="invalid_arguments")
    if rate is not None:
        return [TierSpec(0, rate).json()]
    return None if tiers is None else [t.json() for t in tiers]


def body_of(**fields: object) -> dict[str, object]:
    return {k: v for k, v in fields.items() if v is not None}


# -- meters -----------------------------------------------------------------------------

def create_meter(*, name: str, rate: Amount | None = None,
                 tiers: Sequence[TierSpec] | None = None, rate_type: str = "fixed",
                 tier_type: str = "tokens_1m", meter_slug: str | None = None) -> Call[Meter]:
    """A meter priced at ``rate`` per unit (one tier from 0) or by graduated ``tiers``."""
    priced = _tiers(tiers, rate)
    if priced is None:
        raise LavaValidationError("a meter needs a rate or tiers", status=0,
                                  code="invalid_arguments")
    body = body_of(name=name, rate_type=rate_type, tier_type=tier_type, meter_slug=meter_slug,
                 tiers=priced)
    return Call("POST", "/meters", Meter.from_json, body=body)


def list_meters(*, limit: int | None = None, cursor: str | None = None) -> Call[Page[Meter]]:
    return Call("GET", "/meters", Page.parser(Meter.from_json), paging(limit, cursor))


def list_meter_documents(*, limit: int | None = None,
                         cursor: str | None = None) -> Call[Page[object]]:
    """The meters' JSON as Lava sent it, one page at a time: for a reader that must skip a meter
    it cannot read rather than fail the listing (the price catalog)."""
    return Call("GET", "/meters", Page.parser(_as_is), paging(limit, cursor))


def _as_is(doc: object) -> object:
    return doc


def get_meter(meter_id: str) -> Call[Meter]:
    return Call("GET", f"/meters/{seg(meter_id)}", Meter.from_json)


def update_meter(meter_id: str, *, name: str | None = None,
                 tiers: Sequence[TierSpec] | None = None) -> Call[Meter]:
    """Only the name and the tiers can change; rate and tier types and the slug cannot."""
    return Call("PATCH", f"/meters/{seg(meter_id)}", Meter.from_json,
                body=body_of(name=name, tiers=_tiers(tiers, None)))


def delete_meter(meter_id: str) -> Call[Deleted]:
    return Call("DELETE", f"/meters/{seg(meter_id)}", Deleted.from_json)


# -- plans ------------------------------------------------------------------------------

def create_plan(*, name: str, period_amount: Amount, billing_interval: str = "month",
                included_credit: Amount | None = None, rollover_type: str | None = None,
                bundle_rollover_type: str | None = None, meter_ids: Sequence[str] = (),
                credit_bundles: Sequence[BundleSpec] = (),
                default_auto_top_up_bundle_index: int | None = None) -> Call[Plan]:
    body = body_of(name=name, period_amount=amount(period_amount),
                 billing_interval=billing_interval,
                 included_credit=None if included_credit is None else amount(included_credit),
                 rollover_type=rollover_type, bundle_rollover_type=bundle_rollover_type,
                 meter_ids=list(meter_ids), credit_bundles=[b.json() for b in credit_bundles],
                 default_auto_top_up_bundle_index=default_auto_top_up_bundle_index)
    return Call("POST", "/plans", Plan.from_json, body=body)


def list_plans(*, limit: int | None = None, cursor: str | None = None) -> Call[Page[Plan]]:
    return Call("GET", "/plans", Page.parser(Plan.from_json), paging(limit, cursor))


def get_plan(plan_id: str) -> Call[Plan]:
    return Call("GET", f"/plans/{seg(plan_id)}", Plan.from_json)


def update_plan(plan_id: str, *, name: str | None = None, rollover_type: str | None = None,
                bundle_rollover_type: str | None = None, included_credit: Amount | None = None,
                meter_ids: Sequence[str] | None = None,
                credit_bundles: Sequence[BundleSpec] | None = None,
                default_auto_top_up_bundle_id: str | None = None) -> Call[Plan]:
    """Fields left ``None`` are not changed; ``period_amount`` and the interval are fixed."""
    body = body_of(name=name, rollover_type=rollover_type,
                 bundle_rollover_type=bundle_rollover_type,
                 included_credit=None if included_credit is None else amount(included_credit),
                 meter_ids=None if meter_ids is None else list(meter_ids),
                 credit_bundles=None if credit_bundles is None else [
                     b.json() for b in credit_bundles],
                 default_auto_top_up_bundle_id=default_auto_top_up_bundle_id)
    return Call("PATCH", f"/plans/{seg(plan_id)}", Plan.from_json, body=body)


def delete_plan(plan_id: str) -> Call[Deleted]:
    return Call("DELETE", f"/plans/{seg(plan_id)}", Deleted.from_json)


# -- credit bundles ---------------------------------------------------------------------

def list_credit_bundles(*, plan_id: str | None = None, limit: int | None = None,
                        cursor: str | None = None) -> Call[Page[CreditBundle]]:
    return Call("GET", "/credit_bundles", Page.parser(CreditBundle.from_json),
                paging(limit, cursor, plan_id=plan_id))


def get_credit_bundle(credit_bundle_id: str) -> Call[CreditBundle]:
    return Call("GET", f"/credit_bundles/{seg(credit_bundle_id)}", CreditBundle.from_json)
