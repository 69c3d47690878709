"""What a merchant sells: meters (how usage is priced), plans (what a subscription includes) and
their credit bundles. Lava's rules for each (lava-api.md 4.2, 4.3) are enforced here."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ...identity import METER_SLUG_RE
from .ids import new_id
from .records import (
    UNSET,
    CreditBundle,
    Interval,
    Invalid,
    Meter,
    MeterSlug,
    Plan,
    RateType,
    Rollover,
    Tier,
    TierType,
    Unset,
)
from .scope import Scope, need
from .views import JsonObj
from .views import plan as plan_view

#: Not Lava's rules (it documents none): bounds on what one local merchant can make, as wide as
#: the REST layer's list bound so no request a client can send meets them first.
MAX_TIERS = 100
MAX_BUNDLES = 100
MAX_PERIOD_AMOUNT = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class BundleSpec:
    name: str
    cost: Decimal
    credit_amount: Decimal
    credit_bundle_id: str | None = None
    is_deleted: bool = False


def check_tiers(tiers: Sequence[Tier], rate_type: RateType) -> tuple[Tier, ...]:
    if not 1 <= len(tiers) <= MAX_TIERS:
        raise Invalid(f"tiers: give 1 to {MAX_TIERS} tiers", code="invalid_tiers")
    if tiers[0].start != 0:
        raise Invalid("tiers: the first tier must start at 0", code="invalid_tiers")
    for a, b in itertools.pairwise(tiers):
        if b.start <= a.start:
            raise Invalid("tiers: starts must be strictly ascending", code="invalid_tiers")
    for t in tiers:
        if t.rate < 0:  # Lava documents no upper bound, for percentages either
            raise Invalid("tiers: rates must be >= 0", code="invalid_tiers")
    return tuple(tiers)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48].strip("-")
    return slug or "meter"


def meter_by_slug(scope: Scope, slug: str) -> Meter | None:
    entry = scope.meter_slugs.get(slug)
    return None if entry is None else scope.meters.get(entry.meter_id)


def create_meter(scope: Scope, *, name: str, rate_type: RateType, tier_type: TierType,
                 tiers: Sequence[Tier], meter_slug: str | None = None) -> Meter:
    tiers = check_tiers(tiers, rate_type)
    if meter_slug is not None:
        # What the sidecar (and a forward token) can carry: a slug it cannot send is no use.
        if not METER_SLUG_RE.match(meter_slug):
            raise Invalid("meter_slug: 1-128 characters from A-Z a-z 0-9 . _ -",
                          code="invalid_meter_slug")
        if scope.meter_slugs.get(meter_slug) is not None:
            raise Invalid(f"meter_slug {meter_slug!r} is already used by another meter",
                          code="meter_slug_taken")
        slug = meter_slug
    else:
        base = slug = slugify(name)
        n = 1
        while scope.meter_slugs.get(slug) is not None:
            n += 1
            slug = f"{base}-{n}"
    now = scope.now()
    meter = Meter(new_id("mtr", now), slug, name, rate_type, tier_type, tiers, now)
    with scope.store.transaction():
        scope.meter_slugs.put(MeterSlug(slug, meter.meter_id))
        return scope.meters.put(meter)


def update_meter(scope: Scope, meter_id: str, *, name: str | Unset = UNSET,
                 tiers: Sequence[Tier] | Unset = UNSET) -> Meter:
    m = need(scope.meters.get(meter_id), "meter", meter_id)
    if not isinstance(name, Unset):
        m = dataclasses.replace(m, name=name)
    if not isinstance(tiers, Unset):
        m = dataclasses.replace(m, tiers=check_tiers(tiers, m.rate_type))
    return scope.meters.put(m)


def delete_meter(scope: Scope, meter_id: str) -> None:
    meter = need(scope.meters.get(meter_id), "meter", meter_id)
    with scope.store.transaction():
        scope.meter_slugs.delete(meter.meter_slug)
        for p in list(scope.plans.scan()):
            if meter_id in p.meter_ids:
                scope.plans.put(dataclasses.replace(
                    p, meter_ids=tuple(i for i in p.meter_ids if i != meter_id)))
        scope.meters.delete(meter_id)


def _check_meters(scope: Scope, meter_ids: Sequence[str]) -> tuple[str, ...]:
    for mid in meter_ids:
        need(scope.meters.get(mid), "meter", mid)
    return tuple(dict.fromkeys(meter_ids))


def _check_credit(period_amount: Decimal, included: Decimal) -> None:
    if not 0 <= period_amount <= MAX_PERIOD_AMOUNT:
        raise Invalid(f"period_amount must be between 0 and {MAX_PERIOD_AMOUNT}",
                      code="invalid_period_amount")
    if not 0 <= included <= period_amount:
        raise Invalid("included_credit must be between 0 and period_amount",
                      code="invalid_included_credit")


def _check_bundle(b: BundleSpec) -> None:
    if b.cost < 0 or b.credit_amount <= 0:
        raise Invalid("credit_bundles: cost must be >= 0 and credit_amount > 0",
                      code="invalid_credit_bundle")


def plan_bundles(scope: Scope, plan_id: str) -> list[CreditBundle]:
    found = [b for b in scope.bundles.scan() if b.plan_id == plan_id]
    found.reverse()  # the order they were given in
    return found


def create_plan(scope: Scope, *, name: str, period_amount: Decimal, billing_interval: Interval,
                rollover_type: Rollover = "none", bundle_rollover_type: Rollover = "none",
                included_credit: Decimal | None = None, meter_ids: Sequence[str] = (),
                credit_bundles: Sequence[BundleSpec] = (),
                default_auto_top_up_bundle_index: int | None = None,
                is_default: bool = False) -> Plan:
    included = period_amount if included_credit is None else included_credit
    _check_credit(period_amount, included)
    if len(credit_bundles) > MAX_BUNDLES:
        raise Invalid(f"at most {MAX_BUNDLES} credit bundles per plan", code="too_many_bundles")
    for b in credit_bundles:
        _check_bundle(b)
    if default_auto_top_up_bundle_index is not None and not (
            0 <= default_auto_top_up_bundle_index < len(credit_bundles)):
        raise Invalid("default_auto_top_up_bundle_index is not an index into credit_bundles",
                      code="invalid_auto_top_up_bundle")
    now = scope.now()
    plan_id = new_id("plan", now)
    with scope.store.transaction():
        meters = _check_meters(scope, meter_ids)
        made = [scope.bundles.put(CreditBundle(new_id("cb", now), plan_id, b.name, b.cost,
                                               b.credit_amount, now)) for b in credit_bundles]
        top_up = (None if default_auto_top_up_bundle_index is None
                  else made[default_auto_top_up_bundle_index].credit_bundle_id)
        return scope.plans.put(Plan(plan_id, name, period_amount, included, billing_interval,
                                    rollover_type, bundle_rollover_type, top_up, meters, now,
                                    is_default))


def update_plan(scope: Scope, plan_id: str, *, name: str | Unset = UNSET,
                rollover_type: Rollover | Unset = UNSET,
                bundle_rollover_type: Rollover | Unset = UNSET,
                included_credit: Decimal | Unset = UNSET,
                default_auto_top_up_bundle_id: str | Unset | None = UNSET,
                meter_ids: Sequence[str] | Unset = UNSET,
                credit_bundles: Sequence[BundleSpec] | Unset = UNSET) -> Plan:
    p = need(scope.plans.get(plan_id), "plan", plan_id)
    with scope.store.transaction():
        if not isinstance(name, Unset):
            p = dataclasses.replace(p, name=name)
        if not isinstance(rollover_type, Unset):
            p = dataclasses.replace(p, rollover_type=rollover_type)
        if not isinstance(bundle_rollover_type, Unset):
            p = dataclasses.replace(p, bundle_rollover_type=bundle_rollover_type)
        if not isinstance(included_credit, Unset):
            _check_credit(p.period_amount, included_credit)
            p = dataclasses.replace(p, included_credit=included_credit)
        if not isinstance(meter_ids, Unset):
            p = dataclasses.replace(p, meter_ids=_check_meters(scope, meter_ids))
        if not isinstance(credit_bundles, Unset):
            _apply_bundles(scope, p, credit_bundles)
        if not isinstance(default_auto_top_up_bundle_id, Unset):
            if default_auto_top_up_bundle_id is not None:
                b = scope.bundles.get(default_auto_top_up_bundle_id)
                if b is None or b.plan_id != p.plan_id:
                    raise Invalid("default_auto_top_up_bundle_id is not a bundle of this plan",
                                  code="invalid_auto_top_up_bundle")
            p = dataclasses.replace(p, default_auto_top_up_bundle_id=default_auto_top_up_bundle_id)
        if p.default_auto_top_up_bundle_id is not None and scope.bundles.get(
                p.default_auto_top_up_bundle_id) is None:
            p = dataclasses.replace(p, default_auto_top_up_bundle_id=None)
        return scope.plans.put(p)


def _apply_bundles(scope: Scope, p: Plan, specs: Sequence[BundleSpec]) -> None:
    now = scope.now()
    for spec in specs:
        if spec.credit_bundle_id is None:
            if not spec.is_deleted:
                _check_bundle(spec)
                scope.bundles.put(CreditBundle(new_id("cb", now), p.plan_id, spec.name,
                                               spec.cost, spec.credit_amount, now))
            continue
        old = scope.bundles.get(spec.credit_bundle_id)
        if old is None or old.plan_id != p.plan_id:
            raise Invalid(f"credit bundle {spec.credit_bundle_id!r} is not a bundle of this plan",
                          code="credit_bundle_not_found")
        if spec.is_deleted:
            scope.bundles.delete(old.credit_bundle_id)
        else:
            _check_bundle(spec)
            scope.bundles.put(dataclasses.replace(old, name=spec.name, cost=spec.cost,
                                                  credit_amount=spec.credit_amount))
    if len(plan_bundles(scope, p.plan_id)) > MAX_BUNDLES:
        raise Invalid(f"at most {MAX_BUNDLES} credit bundles per plan", code="too_many_bundles")


def delete_plan(scope: Scope, plan_id: str) -> None:
    p = need(scope.plans.get(plan_id), "plan", plan_id)
    if p.is_default:
        raise Invalid("the default Free plan cannot be deleted", code="plan_is_default")
    if any(s.plan_id == plan_id and s.status == "active" for s in scope.subscriptions.scan()):
        raise Invalid("plan has active subscriptions: cancel them first", code="plan_in_use")
    with scope.store.transaction():
        for b in plan_bundles(scope, plan_id):
            scope.bundles.delete(b.credit_bundle_id)
        scope.plans.delete(plan_id)


def default_plan(scope: Scope) -> Plan:
    """The merchant's Free plan, created the first time it is needed."""
    found = next((p for p in scope.plans.scan() if p.is_default), None)
    if found is not None:
        return found
    return create_plan(scope, name="Free", period_amount=Decimal(0), billing_interval="month",
                       is_default=True)


def render_plan(scope: Scope, p: Plan) -> JsonObj:
    meters = [m for m in (scope.meters.get(i) for i in p.meter_ids) if m is not None]
    return plan_view(p, scope.merchant_id, meters, plan_bundles(scope, p.plan_id))
