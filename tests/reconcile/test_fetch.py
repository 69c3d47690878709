"""Fetching Lava's records for a window from the local Lava's REST API on loopback: every page
followed, meter ids named by their slugs, and paging stops once a page lies wholly before the
window (``GET /requests`` has no time filter; Lava lists newest first)."""

from __future__ import annotations

from proxy.billing import LavaClient
from proxy.emulator.rest import create_app
from proxy.reconcile import Window
from proxy.reconcile.sources import MARGIN_SECONDS, fetch_billed

from ..billing.servers import ThreadedServer
from ..emulator.accounts_setup import SECRET, T0, seed, served, token, world

STEP = 600.0  # seconds between requests
N = 250


def test_every_page_then_an_early_stop_before_the_window() -> None:
    w = world()
    meter, _, customer = seed(w, period="10000")
    t = token(customer.customer_id, meter.meter_slug)
    for i in range(N):
        w.accounts.settle(t, served(f"req_{i:04d}", input_tokens=i, output_tokens=1,
                                    timestamp=T0 + i * STEP))
    with ThreadedServer(create_app(w.accounts)) as srv, \
            LavaClient(base_url=srv.url, secret_key=SECRET) as lava:
        pages: list[tuple[int, int]] = []
        everything, read = fetch_billed(lava, Window(), progress=lambda p, k: pages.append((p, k)))
        assert (len(everything), read) == (N, N)
        assert [p for p, _ in pages] == [1, 2, 3]
        assert {b.meter for b in everything} == {meter.meter_slug}
        assert {b.customer for b in everything} == {customer.customer_id}
        assert sorted(b.input_tokens for b in everything) == list(range(N))

        since = T0 + 200 * STEP
        recent, read = fetch_billed(lava, Window(since, None), customer=customer.customer_id)
        # Kept: the window and the margin before it; read: the page that crossed into the
        # margin and the one wholly before it, then no more.
        first = 200 - int(MARGIN_SECONDS // STEP)
        assert sorted(b.input_tokens for b in recent) == list(range(first, N))
        assert read == 200
