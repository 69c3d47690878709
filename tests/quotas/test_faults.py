"""Redis faults against a real redis-server: stalled (SIGSTOP), crashed and restarted (SIGKILL on
the same port), and replicas as separate OS processes, one of which dies holding leases."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from proxy.errors import QuotaBackendUnavailable, QuotaExceeded
from proxy.quotas.config import QuotaLimits, QuotaSettings, RedisQuota
from proxy.quotas.gate import QuotaGate, Ticket
from proxy.secret import Secret

from .redisserver import RedisServer
from .test_gate import away_from_a_minute_boundary, try_admit

ROOT = Path(__file__).resolve().parents[2]


def redis_settings(url: str, limits: QuotaLimits, *, policy: str = "allow",
                   timeout_ms: int = 100) -> QuotaSettings:
    return QuotaSettings(backend="redis", redis=RedisQuota(url=Secret(url), timeout_ms=timeout_ms),
                         on_backend_error=policy, default=limits)  # type: ignore[arg-type]


def errors(registry: CollectorRegistry, op: str) -> float:
    return registry.get_sample_value("lava_sidecar_quota_backend_errors_total", {"op": op}) or 0.0


def unchecked(registry: CollectorRegistry, policy: str) -> float:
    return registry.get_sample_value("lava_sidecar_quota_unchecked_total", {"policy": policy}) or 0.0


@pytest.mark.parametrize("policy", ["allow", "reject"])
async def test_a_stalled_redis_opens_the_circuit_once_and_recovers(redis_server: RedisServer,
                                                                   policy: str) -> None:
    """The first admission sent to a stalled Redis waits its deadline (100 ms) and opens the
    circuit; the ones after it get the policy at once, without touching Redis; a probe closes
    the circuit once Redis answers again. (Before the circuit, each waited its own 100 ms.)"""
    registry = CollectorRegistry()
    gate = await QuotaGate.open(redis_settings(redis_server.url, QuotaLimits(requests_per_minute=1000),
                                               policy=policy), registry)
    try:
        await gate.admit("cus_a", None)
        redis_server.pause()
        waits = []
        for _ in range(5):
            start = time.perf_counter()
            if policy == "allow":
                assert isinstance(await gate.admit("cus_a", None), Ticket)
            else:
                with pytest.raises(QuotaBackendUnavailable) as info:
                    await gate.admit("cus_a", None)
                assert info.value.status == 503
                assert info.value.code == "quota_backend_unavailable"
            waits.append(time.perf_counter() - start)
        # The first waited its 100 ms budget (stretched at most once if this loop was late), not
        # more than scheduling noise on a shared machine; the others did not wait for Redis.
        assert 0.09 < waits[0] < 0.6, waits
        assert max(waits[1:]) < 0.05, waits
        assert errors(registry, "admit") == 1
        assert unchecked(registry, policy) == 5
        assert registry.get_sample_value("lava_sidecar_quota_backend_up") == 0
        assert not gate.backend_up
    finally:
        redis_server.resume()
    for _ in range(100):
        if gate.backend_up:
            break
        await asyncio.sleep(0.05)
    assert gate.backend_up
    assert registry.get_sample_value("lava_sidecar_quota_backend_up") == 1
    assert isinstance(await gate.admit("cus_a", None), Ticket)
    assert unchecked(registry, policy) == 5
    assert gate.circuit_trips() == 1
    await gate.aclose()


async def until_up(gate: QuotaGate, within: float = 10.0) -> None:
    for _ in range(int(within / 0.02)):
        if gate.backend_up:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the quota backend's circuit did not close")


async def test_redis_killed_and_restarted_on_the_same_port_recovers(redis_server: RedisServer) -> None:
    await away_from_a_minute_boundary()
    registry = CollectorRegistry()
    gate = await QuotaGate.open(redis_settings(redis_server.url, QuotaLimits(requests_per_minute=3)),
                                registry)
    try:
        first = [await try_admit(gate) for _ in range(4)]
        assert sum(isinstance(r, Ticket) for r in first) == 3
        redis_server.kill()
        # Down: allowed (the policy), counted as errors, and fast (connection refused).
        assert isinstance(await gate.admit("cus_a", None), Ticket)
        assert errors(registry, "admit") >= 1
        redis_server.start()  # empty: counters and the loaded scripts are gone (NOSCRIPT)
        # The circuit is open until a probe is answered; then the counts are Redis' again.
        await until_up(gate)
        results = [await try_admit(gate) for _ in range(5)]
        assert sum(isinstance(r, Ticket) for r in results) == 3
        assert all(isinstance(r, QuotaExceeded) for r in results[3:])
        assert gate.backend_up
    finally:
        await gate.aclose()


def spawn(url: str, mode: str, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.quotas.replica", url, mode, str(n)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


async def test_three_replica_processes_admit_exactly_the_limit_together(redis_server: RedisServer) -> None:
    await away_from_a_minute_boundary()
    procs = [spawn(redis_server.url, "admit", 100) for _ in range(3)]
    try:
        await asyncio.sleep(1.5)  # imports and connection; they wait on stdin to start together
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        counts = [int(p.communicate(timeout=30)[0].strip()) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
    assert sum(counts) == 100, counts


async def test_a_replica_killed_holding_leases_gives_its_slots_back_after_the_ttl(
        redis_server: RedisServer) -> None:
    holder = spawn(redis_server.url, "hold", 3)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        gate = await QuotaGate.open(redis_settings(redis_server.url, QuotaLimits(concurrent_requests=5),
                                                   timeout_ms=500), CollectorRegistry(), lease_ttl=1.0)
        mine = [await gate.admit("cus_a", None) for _ in range(2)]
        assert isinstance(await try_admit(gate), QuotaExceeded)
        # Our own leases outlive their TTL because our heartbeat renews them; the holder's too.
        await asyncio.sleep(1.5)
        assert isinstance(await try_admit(gate), QuotaExceeded)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        refused_until = time.monotonic()
        for _ in range(60):
            result = await try_admit(gate)
            if isinstance(result, Ticket):
                break
            await asyncio.sleep(0.1)
        assert isinstance(result, Ticket)
        assert time.monotonic() - refused_until < 3.0
        more = [await try_admit(gate) for _ in range(3)]
        # 3 dead slots freed; ours (2, still renewed) are held: 2 + 1 + 2 = 5, the 6th refused.
        assert [isinstance(m, Ticket) for m in more] == [True, True, False]
        for t in [*mine, result, *more]:
            if isinstance(t, Ticket):
                gate.complete(t, tokens=0, charge_usd=None)
        await gate.aclose()
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait()
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()
