"""The dashboard over real HTTP on loopback: every page renders what Lava billed (customers with
plan, credit and status; requests; usage per day per customer as SVG; meters; plans), pages
through long lists without overlap, agrees with the REST API's ``/usage``, escapes hostile
names, and answers only loopback peers that name this machine."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from proxy.emulator.accounts import complete_checkout, create_checkout
from proxy.emulator.web.chart import axis_ticks, bar_chart
from proxy.emulator.web.queries import Series, UsageGrid, usage_grid, window
from proxy.emulator.web.security import host_name, local_only, origin_of

from ..accounts_setup import SECRET, T0, World, seed, served, token, world
from .pages import HOSTILE, Client, call, get_page, pages_app

PAGES = ("/", "/dashboard", "/dashboard/customers", "/dashboard/requests", "/dashboard/usage",
         "/dashboard/meters", "/dashboard/plans")


@pytest.fixture
def w() -> World:
    return world()


@pytest.fixture
async def client(w: World, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    return await aiohttp_client(pages_app(w))


def _customers(w: World, plan_id: str, n: int, *, first: str = "Cust") -> list[str]:
    ids = []
    for i in range(n):
        cs = create_checkout(w.scope, checkout_mode="subscription", origin_url="http://x.test",
                             plan_id=plan_id)
        _, c = complete_checkout(w.scope, cs.checkout_session_id, phone=f"+1555000{i:04d}",
                                 first_name=f"{first}{i}")
        ids.append(c.customer_id)
    w.accounts.flush_events()
    return ids


def _traffic(w: World, customer_id: str, meter_slug: str, n: int, *, start: int = 0,
             at: float = T0) -> None:
    for i in range(n):
        w.accounts.settle(token(customer_id, meter_slug),
                          served(f"req_{customer_id[-6:]}_{start + i:05d}", input_tokens=100,
                                 output_tokens=50, timestamp=at))


async def test_every_page_renders_an_empty_merchant(client: Client) -> None:
    for path in PAGES:
        page, resp = await get_page(client, path)
        assert "Local Lava" in page.html
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert not page.scripts  # the dashboard runs no script
        assert SECRET not in page.html


async def test_the_pages_show_what_lava_billed(client: Client, w: World) -> None:
    meter, _plan, ada = seed(w)
    _traffic(w, ada.customer_id, meter.meter_slug, 3)
    page, _ = await get_page(client, "/dashboard/customers")
    row = re.search(rf'<tr data-customer="{ada.customer_id}">(.*?)</tr>', page.html, re.S)
    assert row is not None
    for text in ("Ada", "ada@example.com", "+15555550100", "Pro", "active"):
        assert text in row.group(1)
    # 3 requests of 150 tokens at $3 per 1M: $0.00045 each → $9.99865 of $10 left.
    assert "$9.99865" in row.group(1)

    page, _ = await get_page(client, "/dashboard/requests")
    rows = re.findall(r'<tr data-request="([^"]+)">(.*?)</tr>', page.html, re.S)
    assert len(rows) == 3
    assert all("$0.00045" in r and "gpt-5-nano" in r for _, r in rows)
    assert all(meter.meter_slug in r and "Ada" in r for _, r in rows)

    page, _ = await get_page(client, f"/dashboard/customers/{ada.customer_id}")
    assert page.ids["customer-id"] == ada.customer_id
    assert "usage-chart" in page.attrs
    assert "<title>Ada, 2026-09-21: 450</title>" in page.html

    page, _ = await get_page(client, "/dashboard/meters")
    assert meter.meter_slug in page.html
    assert "$3.00 per 1M tokens" in page.html
    page, _ = await get_page(client, "/dashboard/plans")
    assert re.search(r"Pro.*\$10\.00/month.*chat-tokens.*>1</td>", page.html, re.S)
    page, _ = await get_page(client, "/")
    assert page.ids["stat-customers"] == "1"
    assert page.ids["stat-requests"] == "3"


async def test_usage_agrees_with_the_rest_api(client: Client, w: World) -> None:
    meter, plan, ada = seed(w)
    bob = _customers(w, plan.plan_id, 1, first="Bob")[0]
    for day in range(5):
        _traffic(w, ada.customer_id, meter.meter_slug, day + 1, start=day * 10,
                 at=T0 - 86400 * day)
        _traffic(w, bob, meter.meter_slug, 2, start=day * 10, at=T0 - 86400 * day)
    grid = usage_grid(w.scope, days=7, metric="tokens")
    start = datetime.combine(grid.days[0], datetime.min.time(), UTC)
    for cid in (ada.customer_id, bob):
        rest = await call(client, "GET", "/usage", start=start.isoformat(),
                          end=(start + timedelta(days=7)).isoformat(), customer_id=cid)
        by_day = {d["date"]: d["total_usage_tokens"] for d in rest["items"]}
        series = next(s for s in grid.series if s.key == cid)
        assert [int(v) for v in series.values] == [by_day[d.isoformat()] for d in grid.days]
    assert grid.requests == 25
    assert grid.tokens == 25 * 150
    charge = usage_grid(w.scope, days=7, metric="charge")
    assert charge.charge == Decimal("0.01125")
    assert sum(s.total for s in charge.series) == charge.charge
    page, _ = await get_page(client, "/dashboard/usage?days=7&metric=requests")
    assert "25 requests, 3,750 tokens, $0.01125 charged, from 2 customers" in page.html


async def test_many_customers_are_paged_without_overlap(client: Client, w: World) -> None:
    _meter, plan, _ = seed(w)
    _customers(w, plan.plan_id, 120)
    seen: list[str] = []
    path: str | None = "/dashboard/customers"
    while path is not None:
        page, _ = await get_page(client, path)
        seen += re.findall(r'<tr data-customer="([^"]+)"', page.html)
        nxt = page.attrs.get("next-page")
        path = None if nxt is None else str(nxt["href"]).replace("&amp;", "&")
    assert len(seen) == 121
    assert len(set(seen)) == 121
    # A stale cursor shows the first page, not an error.
    page, _ = await get_page(client, "/dashboard/customers?cursor=con_gone")
    assert len(re.findall(r'<tr data-customer=', page.html)) == 50


async def test_requests_page_and_filter_by_customer(client: Client, w: World) -> None:
    meter, plan, ada = seed(w)
    bob = _customers(w, plan.plan_id, 1, first="Bob")[0]
    _traffic(w, ada.customer_id, meter.meter_slug, 60)
    _traffic(w, bob, meter.meter_slug, 3, start=100)
    page, _ = await get_page(client, "/dashboard/requests")
    first = re.findall(r'<tr data-request="([^"]+)"', page.html)
    assert len(first) == 50
    assert "next-page" in page.attrs
    nxt = str(page.attrs["next-page"]["href"])
    page, _ = await get_page(client, nxt)
    second = re.findall(r'<tr data-request="([^"]+)"', page.html)
    assert len(second) == 13
    assert not set(first) & set(second)
    page, _ = await get_page(client, f"/dashboard/requests?customer={bob}")
    assert len(re.findall(r'<tr data-request="', page.html)) == 3
    assert "Requests of Bob0" in page.html


async def test_hostile_names_are_escaped_on_the_dashboard(client: Client, w: World) -> None:
    _meter, plan, _ = seed(w)
    _customers(w, plan.plan_id, 1, first=HOSTILE)
    await call(client, "POST", "/plans", {"name": HOSTILE, "period_amount": "1",
                                          "billing_interval": "month"})
    for path in PAGES:
        page, _ = await get_page(client, path)
        assert "<script>alert" not in page.html, path
        assert "<img" not in page.html, path


async def test_unknown_customer_is_a_404_page(client: Client) -> None:
    page, _ = await get_page(client, "/dashboard/customers/con_nobody", expect=404)
    assert "Nothing here" in page.html


async def test_a_foreign_host_header_is_refused(client: Client, w: World) -> None:
    seed(w)
    for host in ("evil.example", "evil.example:80", "127.0.0.1.evil.example", "10.0.0.1"):
        page, _ = await get_page(client, "/dashboard/customers", expect=403,
                                 headers={"Host": host})
        assert "answers only on loopback" in page.html
        assert "ada@example.com" not in page.html
    for host in ("localhost", "127.0.0.1:8788", "[::1]:8788"):
        await get_page(client, "/dashboard/customers", headers={"Host": host})


def test_local_only_rule() -> None:
    assert local_only("127.0.0.1", "127.0.0.1:8788")
    assert local_only("::1", "localhost")
    assert local_only("127.0.0.5", "[::1]")
    assert not local_only("192.168.1.2", "127.0.0.1:8788")
    assert not local_only(None, "localhost")
    assert not local_only("127.0.0.1", "attacker.test")
    assert not local_only("127.0.0.1", "")
    assert host_name("[::1]:80") == "::1"
    assert host_name("LocalHost:1") == "localhost"


@pytest.mark.parametrize(("url", "origin"), [
    ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
    ("https://Shop.Example.com/pay?x=1", "https://shop.example.com"),
    ("http://shop.example:80/", "http://shop.example"),
    ("http://user:pw@shop.example:8080", "http://shop.example:8080"),
    ("http://[::1]:3000", "http://[::1]:3000"),
    ("ftp://shop.example", None), ("http://", None), ("http://a;b", None),
    ("http://shop.example:99999", None),
    # Newlines and tabs are dropped by URL parsers (browsers too): never into a header.
    ("http://a\r\nb", "http://ab"),
])
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_axis_ticks_are_round_and_cover_the_peak() -> None:
    D = Decimal
    assert axis_ticks(D(27), "tokens") == [0, 10, 20, 30]
    assert axis_ticks(D(0), "tokens") == [0, 1]
    assert axis_ticks(D(3), "requests") == [0, 1, 2, 3]
    assert axis_ticks(D("0.000081"), "charge") == [0, D("0.00005"), D("0.0001")]
    for peak in (D(1), D(7), D(99), D(101), D(123456), D("0.37")):
        ticks = axis_ticks(peak, "charge")
        assert ticks[0] == 0
        assert ticks[-1] >= peak
        assert len(ticks) <= 5


def test_the_chart_stacks_series_per_day() -> None:
    days = window(T0, 3)
    assert days[-1] == datetime.fromtimestamp(T0, UTC).date()
    assert days[0] == days[-1] - timedelta(days=2)
    grid = UsageGrid(days, "tokens", (Series("a", "Ada", (Decimal(1), Decimal(0), Decimal(3))),
                                      Series("b", HOSTILE, (Decimal(2), Decimal(0), Decimal(0)))),
                     2, 3, 6, Decimal(0))
    svg = bar_chart(grid)
    rects = re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" '
                       r'fill="(#[0-9a-f]+)"><title>([^<]*)</title>', svg)
    assert len(rects) == 3  # zero values draw nothing
    ada_day1, bob_day1 = rects[0], rects[1]
    assert ada_day1[0] == bob_day1[0]                               # same bar
    assert float(bob_day1[1]) + float(bob_day1[2]) == pytest.approx(float(ada_day1[1]), abs=0.2)
    assert "&lt;script&gt;" in svg
    assert "<script>" not in svg
    empty = bar_chart(UsageGrid(days, "tokens", (), 0, 0, 0, Decimal(0)))
    assert "No usage in this window" in empty


def test_the_usage_grid_keeps_the_top_customers_and_sums_the_rest() -> None:
    w = world()
    meter, plan, _ada = seed(w)
    ids = _customers(w, plan.plan_id, 11)
    for n, cid in enumerate(ids):
        _traffic(w, cid, meter.meter_slug, n + 1)
    grid = usage_grid(w.scope, days=1, metric="requests")
    assert [s.label for s in grid.series[:8]] == [f"Cust{i}" for i in range(10, 2, -1)]
    assert grid.series[-1].label == "3 other customers"
    assert grid.series[-1].total == 1 + 2 + 3
    assert grid.customers == 11
    assert sum(s.total for s in grid.series) == grid.requests == sum(range(1, 12))
