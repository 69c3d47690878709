"""``LavaClient`` (sync) against the local Lava's REST API served from a thread: the seed flow,
iteration, errors; the same namespaces as the async client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from proxy.billing import BundleSpec, LavaClient, LavaNotFound
from proxy.emulator.contracts import Settled
from proxy.emulator.rest import create_app
from tests.emulator.accounts_setup import SECRET, T0, World, served, token, world

from .servers import ThreadedServer

D = Decimal


@pytest.fixture
def w() -> World:
    return world()


@pytest.fixture
def server(w: World) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(w.accounts)) as s:
        yield s


@pytest.fixture
def lava(server: ThreadedServer) -> Iterator[LavaClient]:
    with LavaClient(base_url=server.url, secret_key=SECRET, timeout=10) as client:
        yield client


def test_the_seed_flow_with_the_sync_client(lava: LavaClient, w: World,
                                            server: ThreadedServer) -> None:
    meter = lava.meters.create(name="Chat tokens", rate="2.00")
    plan = lava.plans.create(name="Starter", period_amount="5", meter_ids=[meter.meter_id])
    cs = lava.checkout_sessions.create(plan_id=plan.plan_id, origin_url="https://app.example")
    done = lava.checkout_sessions.complete_local(cs.checkout_session_id, phone="+15555550100")
    cid = done.customer_id
    assert cid is not None
    t = token(cid, meter.meter_slug)

    def settle(rid: str, n: int) -> Settled:
        return w.accounts.settle(t, served(rid, input_tokens=n, output_tokens=0))

    server.call(lambda: settle("req_1", 2_000_000))           # 4.00 of the 5.00
    assert server.call(lambda: w.accounts.admit(t)) is None
    server.call(lambda: settle("req_2", 1_000_000))           # 2.00: crosses zero
    denial = server.call(lambda: w.accounts.admit(t))
    assert denial is not None
    assert denial.status == 402

    sub = lava.customers.subscription(cid)
    assert sub is not None
    assert sub.credits.total_remaining == 0
    charges = {r.request_id: r.charge.amount for r in lava.requests.iter(customer_id=cid)}
    assert charges == {"req_1": D(4), "req_2": D(2)}
    day = datetime.fromtimestamp(T0, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    usage = lava.usage.get(start=day.isoformat(), end=(day + timedelta(days=1)).isoformat(),
                           customer_id=cid)
    assert usage.totals.total_charge == D(6)
    assert usage.totals.total_requests == 2

    # A credit bundle checkout lifts the block.
    plan2 = lava.plans.update(plan.plan_id, credit_bundles=[BundleSpec("Top-up", "5", "5")])
    bundle = plan2.credit_bundles[0].credit_bundle_id
    top = lava.checkout_sessions.create(checkout_mode="credit_bundle", customer_id=cid,
                                        credit_bundle_id=bundle)
    lava.checkout_sessions.complete_local(top.checkout_session_id)
    after = lava.customers.subscription(cid)
    assert after is not None
    assert after.credits.bundle_remaining == D(5)
    assert server.call(lambda: w.accounts.admit(t)) is None


def test_sync_iteration_and_errors(lava: LavaClient) -> None:
    ids = [lava.customers.create(reference_id=f"u{i}").customer_id for i in range(12)]
    assert [c.customer_id for c in lava.customers.iter(limit=5)] == list(reversed(ids))
    with pytest.raises(LavaNotFound):
        lava.plans.get("plan_nope")
    assert "aks_test_" in repr(lava)
    assert SECRET not in repr(lava)

