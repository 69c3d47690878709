"""``dev-gateway --seed`` (issue 23): the meter, plan and subscribed customer README's quick start
bills, created through the accounts functions the REST API uses, and found rather than made again
when a ``--db`` file is seeded on every start."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from proxy.emulator.accounts import LocalAccounts
from proxy.emulator.accounts.customers import current_subscription
from proxy.emulator.seed import CUSTOMER_ID, METER_SLUG, seed
from proxy.emulator.store import open_store
from proxy.secret import Secret

from ..conftest import TEST_SECRET


def _seeded_twice(db: Path) -> tuple[object, object]:
    firsts = []
    for _ in range(2):  # two starts on the same file
        store = open_store(str(db))
        try:
            accounts = LocalAccounts(store)
            merchant = accounts.add_secret_key(Secret(TEST_SECRET))
            firsts.append(seed(accounts, merchant))
            scope = accounts.scope(merchant)
            meters = [m for m in scope.meters.scan() if m.meter_slug == METER_SLUG]
            plans = [p for p in scope.plans.scan() if p.name == "Starter"]
            customer = scope.customers.get(CUSTOMER_ID)
            assert len(meters) == len(plans) == 1
            assert customer is not None
            sub = current_subscription(scope, customer)
            assert sub is not None
            assert (sub.plan_id, sub.cycle_remaining) == (plans[0].plan_id, Decimal("10.00"))
            assert plans[0].meter_ids == (meters[0].meter_id,)
        finally:
            store.close()
    return firsts[0], firsts[1]


def test_seed_is_ready_and_idempotent(tmp_path: Path) -> None:
    first, second = _seeded_twice(tmp_path / "lava.db")
    assert first == second
