"""``python -m bench.dashboard``: how long the local Lava's dashboard pages take to render with
many request records (issue 21: "fast with 10,000 requests").

The full local Lava (``running_local_gateway``: accounts, REST, pages) on loopback, in memory and
on SQLite (``dev-gateway --db``); ``--customers`` customers subscribed through checkout and
``--requests`` request records settled through the gateway's own ``Accounts.settle``, spread over
the last 30 days. Then every dashboard page is fetched over HTTP ``--rounds`` times (after one
warm-up) and the server's CPU time per page is read around each fetch (``time.process_time``: the
client is a few hundred microseconds of it). Prints, per store and page: median and max wall
milliseconds, median CPU milliseconds, and the page's size.

    python -m bench.dashboard                      # 10,000 requests, 100 customers, ~1 min
    python -m bench.dashboard --requests 100000    # the gateway's record cap
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from proxy.emulator.accounts import LocalAccounts, complete_checkout, create_checkout
from proxy.emulator.accounts.catalog import create_meter, create_plan
from proxy.emulator.accounts.records import Tier
from proxy.emulator.contracts import Served
from proxy.emulator.server import running_local_gateway
from proxy.secret import Secret
from proxy.tokens import Billing, decode, mint
from proxy.usage.base import Usage

KEY = "aks_test_dashboardbench0123456789"
PAGES = ("/", "/dashboard/customers", "/dashboard/customers/{customer}",
         "/dashboard/requests", "/dashboard/requests?customer={customer}",
         "/dashboard/usage?days=30", "/dashboard/usage?days=90&metric=charge",
         "/dashboard/meters", "/dashboard/plans")


def seed(accounts: LocalAccounts, customers: int, requests: int) -> list[str]:
    """Customers on a plan, then ``requests`` records, oldest first, over the last 30 days."""
    from decimal import Decimal

    merchant = accounts.merchant_for(KEY)
    assert merchant is not None
    scope = accounts.scope(merchant)
    meter = create_meter(scope, name="Chat tokens", rate_type="fixed", tier_type="tokens_1m",
                         tiers=[Tier(Decimal(0), Decimal("3.00"))], meter_slug="chat-tokens")
    plan = create_plan(scope, name="Pro", period_amount=Decimal(10_000),
                       billing_interval="month", meter_ids=[meter.meter_id])
    ids = []
    for i in range(customers):
        cs = create_checkout(scope, checkout_mode="subscription", origin_url="http://x.test",
                             plan_id=plan.plan_id)
        _, c = complete_checkout(scope, cs.checkout_session_id, phone=f"+1555{i:07d}",
                                 first_name=f"Customer {i}")
        ids.append(c.customer_id)
    accounts.flush_events()
    tokens = [decode(mint(Secret(KEY), Billing(cid, "chat-tokens"))) for cid in ids]
    now = time.time()
    for n in range(requests):
        at = now - 30 * 86400 * (1 - n / requests)
        # A few heavy customers and a long tail, as real traffic looks.
        who = (n * 7919) % customers if n % 3 else n % max(1, customers // 10)
        accounts.settle(tokens[who], Served(
            request_id=f"req_bench{n:08d}", provider="openai",
            endpoint="POST https://api.openai.com/v1/chat/completions", model="gpt-4o-mini",
            response_id=f"chatcmpl-{n}", usage=Usage(input_tokens=200 + n % 300,
                                                     output_tokens=50 + n % 100),
            status="completed", timestamp=at))
    return ids


async def measure(url: str, paths: list[str], rounds: int) -> list[tuple[str, list[float],
                                                                         list[float], int]]:
    out = []
    async with aiohttp.ClientSession() as http:
        for path in paths:
            walls, cpus, size = [], [], 0
            for i in range(rounds + 1):
                cpu0, t0 = time.process_time(), time.perf_counter()
                async with http.get(url + path) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        raise SystemExit(f"{path}: HTTP {resp.status}")
                wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                if i:  # the first fetch warms caches
                    walls.append(wall * 1000)
                    cpus.append(cpu * 1000)
                size = len(body)
            out.append((path, walls, cpus, size))
    return out


async def run_store(label: str, db: Path | None, args: argparse.Namespace) -> None:
    options = {} if db is None else {"db_path": db}
    async with running_local_gateway(KEY, **options) as gw:
        accounts = gw.state.accounts
        assert isinstance(accounts, LocalAccounts)
        t0 = time.perf_counter()
        ids = seed(accounts, args.customers, args.requests)
        seeded = time.perf_counter() - t0
        heavy = ids[0]
        paths = [p.format(customer=heavy) for p in PAGES]
        results = await measure(gw.url, paths, args.rounds)
    print(f"\n{label}: {args.requests:,} requests, {args.customers} customers "
          f"(seeded in {seeded:.1f} s); {args.rounds} fetches per page")
    print(f"{'page':<44} {'median ms':>10} {'max ms':>8} {'cpu ms':>8} {'KiB':>6}")
    for path, walls, cpus, size in results:
        shown = path.replace(heavy, "<customer>")
        print(f"{shown:<44} {statistics.median(walls):>10.1f} {max(walls):>8.1f} "
              f"{statistics.median(cpus):>8.1f} {size / 1024:>6.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--store", choices=("memory", "sqlite", "both"), default="both")
    args = parser.parse_args()
    if args.store in ("memory", "both"):
        asyncio.run(run_store("memory store", None, args))
    if args.store in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="dash-bench-") as tmp:
            asyncio.run(run_store("SQLite store (dev-gateway --db)", Path(tmp) / "lava.db", args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
