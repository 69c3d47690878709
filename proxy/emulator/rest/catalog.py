"""REST resources for what a merchant sells: ``/meters``, ``/plans``, ``/credit_bundles``."""

from __future__ import annotations

from decimal import Decimal

from ..accounts import (
    INTERVALS,
    RATE_TYPES,
    ROLLOVERS,
    TIER_TYPES,
    UNSET,
    Invalid,
    Tier,
    Unset,
    catalog,
    need,
    page,
    views,
)
from .context import Ctx, Route
from .input import (
    Body,
    choice,
    decimal,
    integer,
    limit,
    need_decimal,
    need_text,
    objects,
    strings,
    text,
)

_IMMUTABLE_METER = ("rate_type", "tier_type", "meter_slug")
_IMMUTABLE_PLAN = ("period_amount", "billing_interval")


def _refuse_immutable(body: Body, fields: tuple[str, ...], what: str) -> None:
    for f in fields:
        if f in body:
            raise Invalid(f"{f} cannot be changed after the {what} is created",
                          code="immutable_field")


def _tiers(body: Body) -> list[Tier] | None:
    raw = objects(body, "tiers")
    if raw is None:
        return None
    return [Tier(need_decimal(t, "start"), need_decimal(t, "rate")) for t in raw]


def _cursor(ctx: Ctx, exists: bool) -> None:
    if ctx.query.get("cursor") is not None and not exists:
        raise Invalid("cursor does not name an item of this list", code="invalid_cursor")


# -- meters -----------------------------------------------------------------------------

def list_meters(ctx: Ctx) -> object:
    cursor = ctx.query.get("cursor")
    _cursor(ctx, cursor is None or ctx.scope.meters.get(cursor) is not None)
    return page(ctx.scope.meters.scan(before=cursor), limit(ctx.query), lambda m: m.meter_id,
                views.meter)


def create_meter(ctx: Ctx) -> object:
    b = ctx.body
    tiers = _tiers(b)
    if tiers is None:
        raise Invalid("tiers is required, e.g. [{\"start\": \"0\", \"rate\": \"3.00\"}]",
                      code="missing_parameter")
    return views.meter(catalog.create_meter(
        ctx.scope, name=need_text(b, "name"), meter_slug=text(b, "meter_slug", max_len=128),
        rate_type=choice(b, "rate_type", RATE_TYPES, "fixed"),
        tier_type=choice(b, "tier_type", TIER_TYPES, "tokens_1m"), tiers=tiers))


def get_meter(ctx: Ctx) -> object:
    mid = ctx.param("id")
    return views.meter(need(ctx.scope.meters.get(mid), "meter", mid))


def update_meter(ctx: Ctx) -> object:
    b = ctx.body
    _refuse_immutable(b, _IMMUTABLE_METER, "meter")
    tiers = _tiers(b)
    return views.meter(catalog.update_meter(
        ctx.scope, ctx.param("id"), name=text(b, "name") or UNSET,
        tiers=UNSET if tiers is None else tiers))


def delete_meter(ctx: Ctx) -> object:
    catalog.delete_meter(ctx.scope, ctx.param("id"))
    return {"id": ctx.param("id"), "deleted": True}


# -- plans ------------------------------------------------------------------------------

def _bundle_specs(body: Body, *, updating: bool) -> list[catalog.BundleSpec] | None:
    raw = objects(body, "credit_bundles")
    if raw is None:
        return None
    specs = []
    for b in raw:
        deleting = b.get("is_deleted") is True
        specs.append(catalog.BundleSpec(
            name=(text(b, "name") or "") if deleting else need_text(b, "name"),
            cost=(decimal(b, "cost") or Decimal(0)) if deleting else need_decimal(b, "cost"),
            credit_amount=((decimal(b, "credit_amount") or Decimal(0)) if deleting
                           else need_decimal(b, "credit_amount")),
            credit_bundle_id=text(b, "credit_bundle_id") if updating else None,
            is_deleted=deleting and updating))
    return specs


def list_plans(ctx: Ctx) -> object:
    cursor = ctx.query.get("cursor")
    _cursor(ctx, cursor is None or ctx.scope.plans.get(cursor) is not None)
    return page(ctx.scope.plans.scan(before=cursor), limit(ctx.query), lambda p: p.plan_id,
                lambda p: catalog.render_plan(ctx.scope, p))


def create_plan(ctx: Ctx) -> object:
    b = ctx.body
    bundles = _bundle_specs(b, updating=False) or []
    plan = catalog.create_plan(
        ctx.scope, name=need_text(b, "name"), period_amount=need_decimal(b, "period_amount"),
        billing_interval=choice(b, "billing_interval", INTERVALS, "month"),
        rollover_type=choice(b, "rollover_type", ROLLOVERS, "none"),
        bundle_rollover_type=choice(b, "bundle_rollover_type", ROLLOVERS, "none"),
        included_credit=decimal(b, "included_credit"), meter_ids=strings(b, "meter_ids") or [],
        credit_bundles=bundles,
        default_auto_top_up_bundle_index=integer(b, "default_auto_top_up_bundle_index",
                                                 high=len(bundles)))
    return catalog.render_plan(ctx.scope, plan)


def get_plan(ctx: Ctx) -> object:
    pid = ctx.param("id")
    return catalog.render_plan(ctx.scope, need(ctx.scope.plans.get(pid), "plan", pid))


def update_plan(ctx: Ctx) -> object:
    b = ctx.body
    _refuse_immutable(b, _IMMUTABLE_PLAN, "plan")
    top_up: str | Unset | None = UNSET
    if "default_auto_top_up_bundle_id" in b:
        top_up = text(b, "default_auto_top_up_bundle_id")
    meter_ids = strings(b, "meter_ids")
    bundles = _bundle_specs(b, updating=True)
    included = decimal(b, "included_credit")
    plan = catalog.update_plan(
        ctx.scope, ctx.param("id"), name=text(b, "name") or UNSET,
        rollover_type=choice(b, "rollover_type", ROLLOVERS) if "rollover_type" in b else UNSET,
        bundle_rollover_type=(choice(b, "bundle_rollover_type", ROLLOVERS)
                              if "bundle_rollover_type" in b else UNSET),
        included_credit=UNSET if included is None else included,
        default_auto_top_up_bundle_id=top_up,
        meter_ids=UNSET if meter_ids is None else meter_ids,
        credit_bundles=UNSET if bundles is None else bundles)
    return catalog.render_plan(ctx.scope, plan)


def delete_plan(ctx: Ctx) -> object:
    catalog.delete_plan(ctx.scope, ctx.param("id"))
    return {"id": ctx.param("id"), "deleted": True}


# -- credit bundles ---------------------------------------------------------------------

def list_bundles(ctx: Ctx) -> object:
    cursor = ctx.query.get("cursor")
    _cursor(ctx, cursor is None or ctx.scope.bundles.get(cursor) is not None)
    plan_id = ctx.query.get("plan_id")
    items = (b for b in ctx.scope.bundles.scan(before=cursor)
             if plan_id is None or b.plan_id == plan_id)
    return page(items, limit(ctx.query), lambda b: b.credit_bundle_id, views.bundle)


def get_bundle(ctx: Ctx) -> object:
    bid = ctx.param("id")
    return views.bundle(need(ctx.scope.bundles.get(bid), "credit bundle", bid))


ROUTES: tuple[Route, ...] = (
    ("GET", "/meters", list_meters), ("POST", "/meters", create_meter),
    ("GET", "/meters/{id}", get_meter), ("PATCH", "/meters/{id}", update_meter),
    ("DELETE", "/meters/{id}", delete_meter),
    ("GET", "/plans", list_plans), ("POST", "/plans", create_plan),
    ("GET", "/plans/{id}", get_plan), ("PATCH", "/plans/{id}", update_plan),
    ("DELETE", "/plans/{id}", delete_plan),
    ("GET", "/credit_bundles", list_bundles), ("GET", "/credit_bundles/{id}", get_bundle),
)
