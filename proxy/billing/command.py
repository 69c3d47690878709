"""``lava-sidecar billing …``: Lava's REST API from the shell (meters, plans, checkout, customers,
usage, requests), against Lava or the local dev gateway."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..emulator.command import DEFAULT_LISTEN  # dev-gateway's own default, not a copy of it

if TYPE_CHECKING:
    from .client import LavaClient

HELP = f"""Manage Lava billing objects: meters, plans, checkout sessions, customers, usage, requests.

Uses LAVA_SECRET_KEY (or LAVA_SECRET_KEY_FILE) and LAVA_GATEWAY_URL (default https://api.lava.so;
the local dev gateway is http://{DEFAULT_LISTEN} by default). Prints a table, or JSON with --json.

  lava-sidecar billing meters create --name "Chat tokens" --rate 3.00 --tier-type tokens_1m
  lava-sidecar billing plans create --name Pro --amount 20 --meter mtr_…
  lava-sidecar billing checkout create --plan plan_…
  lava-sidecar billing checkout complete cs_test_… --phone +15555550100   (dev gateway only)
  lava-sidecar billing usage --customer con_… --start 2026-05-01T00:00:00-05:00"""


def _tier(text: str) -> tuple[str, str]:
    start, sep, rate = text.partition(":")
    if not sep or not start or not rate:
        raise argparse.ArgumentTypeError("tiers are START:RATE, e.g. 1000000:2.50")
    return start, rate


def _bundle(text: str) -> tuple[str, str, str]:
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError("bundles are NAME:COST:CREDIT, e.g. 'Top-up:5:5'")
    return parts[0], parts[1], parts[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--gateway", metavar="URL", help="API base URL (default: $LAVA_GATEWAY_URL)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per call (30)")
    res = parser.add_subparsers(dest="resource", metavar="RESOURCE", required=True)

    meters = res.add_parser("meters", help="pricing meters").add_subparsers(
        dest="action", required=True)
    mc = meters.add_parser("create", help="create a meter")
    mc.add_argument("--name", required=True)
    price = mc.add_mutually_exclusive_group(required=True)
    price.add_argument("--rate", help="one rate from the first unit, e.g. 3.00 (per 1M tokens)")
    price.add_argument("--tier", type=_tier, action="append", metavar="START:RATE",
                       help="graduated tier (repeat, first START is 0)")
    mc.add_argument("--tier-type", default="tokens_1m",
                    choices=("tokens_1m", "characters_1m", "minutes", "requests"))
    mc.add_argument("--rate-type", default="fixed", choices=("fixed", "percentage"))
    mc.add_argument("--slug", help="meter slug (default: made from the name)")
    meters.add_parser("list", help="list meters").add_argument("--limit", type=int, default=100)

    plans = res.add_parser("plans", help="subscription plans").add_subparsers(
        dest="action", required=True)
    pc = plans.add_parser("create", help="create a plan")
    pc.add_argument("--name", required=True)
    pc.add_argument("--amount", required=True, help="price per period in USD, e.g. 20.00")
    pc.add_argument("--interval", default="month", choices=("day", "week", "month", "year"))
    pc.add_argument("--included-credit", help="credit per period (default: --amount)")
    pc.add_argument("--meter", action="append", default=[], metavar="METER_ID",
                    help="link a meter (repeat)")
    pc.add_argument("--rollover", choices=("full", "none"))
    pc.add_argument("--bundle-rollover", choices=("full", "none"))
    pc.add_argument("--bundle", type=_bundle, action="append", default=[],
                    metavar="NAME:COST:CREDIT", help="credit bundle (repeat)")
    plans.add_parser("list", help="list plans").add_argument("--limit", type=int, default=100)

    checkout = res.add_parser("checkout", help="checkout sessions").add_subparsers(
        dest="action", required=True)
    cc = checkout.add_parser("create", help="start a checkout")
    cc.add_argument("--plan", metavar="PLAN_ID", help="plan to subscribe to")
    cc.add_argument("--customer", metavar="CUSTOMER_ID", help="returning customer")
    cc.add_argument("--bundle", metavar="CREDIT_BUNDLE_ID",
                    help="buy a credit bundle instead (needs --customer)")
    cc.add_argument("--origin", default="http://localhost:3000", help="origin embedding it")
    done = checkout.add_parser("complete",
                               help="EMULATOR ONLY: complete a session as if the buyer paid")
    done.add_argument("session", metavar="CHECKOUT_SESSION_ID")
    for flag in ("--phone", "--email", "--first-name", "--last-name"):
        done.add_argument(flag)

    customers = res.add_parser("customers", help="customers").add_subparsers(
        dest="action", required=True)
    customers.add_parser("list", help="list customers").add_argument("--limit", type=int,
                                                                     default=100)
    customers.add_parser("show", help="a customer's subscription and credit").add_argument(
        "customer", metavar="CUSTOMER_ID")

    usage = res.add_parser("usage", help="daily usage and charges")
    usage.add_argument("--customer", metavar="CUSTOMER_ID")
    usage.add_argument("--meter", metavar="METER_ID")
    usage.add_argument("--start", help="ISO 8601; its offset sets the days (default: 30 days ago)")
    usage.add_argument("--end", help="ISO 8601 (default: now)")

    requests = res.add_parser("requests", help="recent request records")
    requests.add_argument("--customer", metavar="CUSTOMER_ID")
    requests.add_argument("--meter", metavar="METER_ID")
    requests.add_argument("--limit", type=int, default=20)


def _take(items: object, limit: int) -> list[object]:
    from itertools import islice

    return list(islice(items, max(0, limit)))  # type: ignore[call-overload]


def _dispatch(lava: LavaClient, args: argparse.Namespace) -> object:
    from .ops_catalog import BundleSpec, TierSpec

    what = (args.resource, getattr(args, "action", None))
    if what == ("meters", "create"):
        tiers = None if args.tier is None else [TierSpec(s, r) for s, r in args.tier]
        return lava.meters.create(name=args.name, rate=args.rate, tiers=tiers,
                                  rate_type=args.rate_type, tier_type=args.tier_type,
                                  meter_slug=args.slug)
    if what == ("meters", "list"):
        return _take(lava.meters.iter(limit=min(args.limit, 100)), args.limit)
    if what == ("plans", "create"):
        return lava.plans.create(
            name=args.name, period_amount=args.amount, billing_interval=args.interval,
            included_credit=args.included_credit, meter_ids=args.meter,
            rollover_type=args.rollover, bundle_rollover_type=args.bundle_rollover,
            credit_bundles=[BundleSpec(n, c, a) for n, c, a in args.bundle])
    if what == ("plans", "list"):
        return _take(lava.plans.iter(limit=min(args.limit, 100)), args.limit)
    if what == ("checkout", "create"):
        mode = "credit_bundle" if args.bundle else "subscription"
        return lava.checkout_sessions.create(
            checkout_mode=mode, origin_url=args.origin, plan_id=args.plan,
            customer_id=args.customer, credit_bundle_id=args.bundle)
    if what == ("checkout", "complete"):
        return lava.checkout_sessions.complete_local(
            args.session, phone=args.phone, email=args.email, first_name=args.first_name,
            last_name=args.last_name)
    if what == ("customers", "list"):
        return _take(lava.customers.iter(limit=min(args.limit, 100)), args.limit)
    if what == ("customers", "show"):
        sub = lava.customers.subscription(args.customer)
        return [lava.customers.get(args.customer)] + ([] if sub is None else [sub])
    if args.resource == "usage":
        start = args.start or (datetime.now(UTC) - timedelta(days=30)).replace(
            hour=0, minute=0, second=0, microsecond=0).isoformat()
        return lava.usage.get(start=start, end=args.end, customer_id=args.customer,
                              meter_id=args.meter)
    return _take(lava.requests.iter(customer_id=args.customer, meter_id=args.meter,
                                    limit=min(max(args.limit, 1), 100)), args.limit)


def run(args: argparse.Namespace) -> int:
    from .client import LavaClient
    from .errors import LavaError
    from .output import to_json, to_table

    try:
        with LavaClient(base_url=args.gateway, timeout=args.timeout) as lava:
            result = _dispatch(lava, args)
    except LavaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if isinstance(result, list) and args.resource == "customers" and args.action == "show":
        text = to_json(result) if args.json else "\n\n".join(to_table(r) for r in result)
    else:
        text = to_json(result) if args.json else to_table(result)
    print(text)
    return 0
