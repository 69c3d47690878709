"""Bursts against replicas that share one real Redis: every request of the burst is on its own
connection and written in the same instant, right after the replicas answered /readyz (cold
connections, empty windows). What reached the gateway (what Lava would bill) must be exactly the
limit; every refusal a 429 in the caller's shape with one usage line; five runs in a row."""

from __future__ import annotations

from pathlib import Path

from .burst import burst, tally
from .countinggateway import counting_gateway
from .fleet import (assert_refusals_in_shape, fleet, outcomes, quota_lines, redis_quotas,
                    requests_for, settled, well_inside_a_minute)
from .redisserver import RedisServer

LIMITS = {"cus_small": 30, "cus_big": 100}
SENT = {"cus_small": 90, "cus_big": 300}


def quotas(run: int) -> dict[str, object]:
    """Fresh customer ids each run: their windows start empty."""
    return redis_quotas(customers={f"{c}_{run}": {"requests_per_minute": n} for c, n in LIMITS.items()})


async def test_bursts_right_after_readiness_admit_exactly_the_limit(tmp_path: Path,
                                                                    redis_server: RedisServer) -> None:
    for run in range(5):
        async with counting_gateway() as gw, fleet(tmp_path, gw.url, quotas(run),
                                                   env={"REDIS_URL": redis_server.url}) as procs:
            customers = {c: f"{c}_{run}" for c in LIMITS}
            await well_inside_a_minute(8)
            reqs = [r for c, n in SENT.items() for r in requests_for(procs, customers[c], n)]
            answers = await burst(reqs)
            by_customer = {c: answers[:SENT["cus_small"]] if c == "cus_small"
                           else answers[SENT["cus_small"]:] for c in LIMITS}
            for c, limit in LIMITS.items():
                got = tally(by_customer[c])
                assert got == {200: limit, 429: SENT[c] - limit}, (run, c, got, quota_lines(procs))
                assert gw.by_customer[customers[c]] == limit, (run, c, gw.by_customer)
                assert_refusals_in_shape(by_customer[c])
            recs = await settled(procs, sum(SENT.values()))
            assert len(recs) == sum(SENT.values())
            for c, limit in LIMITS.items():
                assert outcomes(recs, customers[c]) == {"ok": limit, "rate_limited": SENT[c] - limit}
            assert quota_lines(procs) == [] or all("reachable" in m or "answers" in m
                                                   for m in quota_lines(procs)), quota_lines(procs)
