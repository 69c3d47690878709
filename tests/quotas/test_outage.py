"""Redis stalls (SIGSTOP) for 2 s while three replicas are under load: each replica's circuit opens
once, on_backend_error applies meanwhile, it closes once after; every request has exactly one
usage line. And on a 3-master cluster: a master killed mid-run costs only the customers whose slots
it holds, nobody crashes, and quotas are exact on it again once it is back."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from ..faults.process import SidecarProcess, eventually
from .burst import burst, tally
from .countinggateway import counting_gateway
from .fleet import (
    BODY,
    CHAT,
    fleet,
    quota_lines,
    redis_quotas,
    requests_for,
    settled,
    well_inside_a_minute,
    who,
)
from .rediscluster import RedisCluster, customers_on_distinct_masters
from .redisserver import RedisServer


async def metric(sc: SidecarProcess, name: str, **labels: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(sc.admin_url + "/metrics") as r:
        text = await r.text()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


async def all_up(procs: list[SidecarProcess]) -> bool:
    return all([await metric(p, "lava_sidecar_quota_backend_up") == 1 for p in procs])


async def test_a_stalled_redis_under_load_opens_each_circuit_once(tmp_path: Path,
                                                                  redis_server: RedisServer) -> None:
    quotas = redis_quotas(default={"requests_per_minute": 1_000_000})
    async with counting_gateway() as gw, fleet(tmp_path, gw.url, quotas,
                                               env={"REDIS_URL": redis_server.url}) as procs:
        statuses: Counter[int] = Counter()
        ids: list[str] = []
        stop = asyncio.Event()

        async def client(k: int) -> None:
            async with aiohttp.ClientSession() as http:
                i = k
                while not stop.is_set():
                    sc = procs[i % len(procs)]
                    i += 1
                    async with http.post(sc.url + CHAT, data=BODY, headers={
                            **who("cus_load"), "Content-Type": "application/json"}) as r:
                        await r.read()
                        statuses[r.status] += 1
                        ids.append(r.headers["x-lava-sidecar-request-id"])

        load = [asyncio.ensure_future(client(k)) for k in range(24)]
        try:
            await asyncio.sleep(1.0)
            redis_server.pause()
            try:
                await asyncio.sleep(2.0)
            finally:
                redis_server.resume()
            await eventually(lambda: all_up(procs), within=15)
            await asyncio.sleep(0.5)  # traffic on the closed circuits again
        finally:
            stop.set()
            await asyncio.gather(*load)
        # The policy (allow) served everything; what Redis could not check was counted as such.
        assert set(statuses) == {200}, statuses
        assert gw.served == len(ids)
        unchecked = [await metric(p, "lava_sidecar_quota_unchecked_total", policy="allow")
                     for p in procs]
        assert all(u > 0 for u in unchecked), unchecked
        for p in procs:
            lines = [d["msg"] for d in p.logs() if "quota backend" in d.get("msg", "")]
            assert sum("is down" in m for m in lines) == 1, lines
            assert sum("up again" in m for m in lines) == 1, lines
        # One usage line per request, none lost, none twice.
        recs = await settled(procs, len(ids))
        assert sorted(r["request_id"] for r in recs) == sorted(ids)
        assert {r["outcome"] for r in recs} == {"ok"}


async def test_a_cluster_master_killed_mid_run(tmp_path: Path, redis_cluster: RedisCluster) -> None:
    quotas = redis_quotas(redis={"cluster": True}, default={"requests_per_minute": 20})
    async with counting_gateway() as gw, fleet(tmp_path, gw.url, quotas,
                                               env={"REDIS_URL": redis_cluster.url}) as procs:
        await well_inside_a_minute(25)
        names = customers_on_distinct_masters(redis_cluster, "cus_k", 3)
        doomed = redis_cluster.owner("{" + names[0] + "}")
        redis_cluster.nodes[doomed].kill()
        try:
            # Its customers get the policy (allow: all served); the others are still exact.
            answers = await burst([*requests_for(procs, names[0], 60), *requests_for(procs, names[1], 60)])
            assert tally(answers[:60]) == {200: 60}, quota_lines(procs)
            assert tally(answers[60:]) == {200: 20, 429: 40}, quota_lines(procs)
            assert all(p.proc.returncode is None for p in procs)
        finally:
            redis_cluster.nodes[doomed].start()
        redis_cluster.wait_ok()
        await eventually(lambda: all_up(procs), within=20)
        # Back: exact on that master again (a fresh customer whose slot it holds).
        fresh = next(c for c in (f"cus_back{i}" for i in range(1000))
                     if redis_cluster.owner("{" + c + "}") == doomed)
        answers = await burst(requests_for(procs, fresh, 60))
        assert tally(answers) == {200: 20, 429: 40}, quota_lines(procs)
        assert gw.by_customer[names[1]] == 20
        assert gw.by_customer[fresh] == 20
        for p in procs:
            lines = [d["msg"] for d in p.logs() if "quota backend" in d.get("msg", "")]
            assert any("down" in m for m in lines), lines
            assert any("up again" in m for m in lines), lines
        recs = await settled(procs, 180)
        assert len(recs) == 180
        assert all(p.proc.returncode is None for p in procs)  # nobody crashed
