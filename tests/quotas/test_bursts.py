"""Bursts against replicas that share one real Redis, or one real 3-master Redis Cluster: every
request of a burst is on its own connection and written in the same instant, right after the
replicas answered /readyz (cold connections, empty windows). What reached the gateway (what Lava
would bill) must be exactly the limit; every refusal a 429 in the caller's shape with one usage
line; the circuit never opens; five runs in a row, each on freshly started replicas."""

from __future__ import annotations

from pathlib import Path

import pytest

from .burst import burst, tally
from .countinggateway import counting_gateway
from .fleet import (
    assert_refusals_in_shape,
    down_lines,
    fleet,
    outcomes,
    redis_quotas,
    requests_for,
    settled,
    well_inside_a_minute,
)
from .rediscluster import RedisCluster, customers_on_distinct_masters
from .redisserver import RedisServer

#: Limit and burst per customer: the issue's two bursts, sent together.
BURSTS = ((30, 90), (100, 300))
RUNS = 5


@pytest.fixture(params=["redis", "cluster"])
def store(request: pytest.FixtureRequest) -> tuple[str, bool, RedisCluster | None]:
    if request.param == "redis":
        return request.getfixturevalue("redis_server").url, False, None
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    return cluster.url, True, cluster


def customers(run: int, cluster: RedisCluster | None) -> list[str]:
    """Fresh ids each run (their windows start empty); on a cluster, on different masters, so
    each replica's batches are split per node."""
    if cluster is None:
        return [f"cus_run{run}_{i}" for i in range(len(BURSTS))]
    return customers_on_distinct_masters(cluster, f"cus_run{run}_", len(BURSTS))


async def test_bursts_right_after_readiness_admit_exactly_the_limit(
        tmp_path: Path, store: tuple[str, bool, RedisCluster | None]) -> None:
    url, cluster, nodes = store
    for run in range(RUNS):
        names = customers(run, nodes)
        quotas = redis_quotas(redis={"cluster": cluster}, customers={
            name: {"requests_per_minute": limit} for name, (limit, _) in zip(names, BURSTS, strict=True)})
        await well_inside_a_minute(10)
        async with counting_gateway() as gw, fleet(tmp_path, gw.url, quotas,
                                                   env={"REDIS_URL": url}) as procs:
            reqs = [r for name, (_, n) in zip(names, BURSTS, strict=True)
                    for r in requests_for(procs, name, n)]
            answers = await burst(reqs)
            start = 0
            for name, (limit, n) in zip(names, BURSTS, strict=True):
                mine = answers[start:start + n]
                start += n
                assert tally(mine) == {200: limit, 429: n - limit}, (run, name, tally(mine),
                                                                     down_lines(procs))
                assert gw.by_customer[name] == limit, (run, name, gw.by_customer)
                assert_refusals_in_shape(mine)
            recs = await settled(procs, len(reqs))
            assert len(recs) == len(reqs)
            assert len({r["request_id"] for r in recs}) == len(reqs)
            for name, (limit, n) in zip(names, BURSTS, strict=True):
                assert outcomes(recs, name) == {"ok": limit, "rate_limited": n - limit}
            # A burst never opens the circuit: Redis was healthy throughout.
            assert not down_lines(procs), down_lines(procs)


async def test_a_burst_of_200_to_one_replica_with_limit_30_and_reject(tmp_path: Path,
                                                            redis_server: RedisServer) -> None:
    """The issue's second run: one replica, 200 at once; exact, and no 503 with reject."""
    quotas = redis_quotas(on_backend_error="reject", default={"requests_per_minute": 30})
    await well_inside_a_minute(10)
    async with counting_gateway() as gw, fleet(tmp_path, gw.url, quotas, n=1,
                                               env={"REDIS_URL": redis_server.url}) as procs:
        answers = await burst(requests_for(procs, "cus_one", 200))
        assert tally(answers) == {200: 30, 429: 170}, down_lines(procs)
        assert gw.served == 30
