"""Fixtures: a real Redis per test, a settable clock, and gates on either backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import pytest
from prometheus_client import CollectorRegistry

from proxy.quotas.config import QuotaLimits, QuotaSettings, RedisQuota
from proxy.quotas.gate import QuotaGate
from proxy.secret import Secret

from .rediscluster import RedisCluster
from .redisserver import RedisServer

NO_LIMITS = QuotaLimits()


class Clock:
    """Seconds since the epoch, moved by the test; starts just after a day boundary."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0 - 1_800_000_000.0 % 86_400 + 3600.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    """A real 3-master Redis Cluster on loopback, for the test."""
    cluster = RedisCluster(tmp_path / "cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


class GateFactory(Protocol):
    async def __call__(self, default: QuotaLimits = ..., *, settings: QuotaSettings | None = None,
                       registry: CollectorRegistry | None = None, **kw: object) -> QuotaGate: ...


def settings_for(backend: str, url: str | None, default: QuotaLimits = NO_LIMITS,
                 **kw: object) -> QuotaSettings:
    base = QuotaSettings(default=default)
    if backend == "redis":
        base = replace(base, backend="redis",
                       redis=RedisQuota(url=Secret(url or ""), timeout_ms=200))
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def gates(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[GateFactory]:
    """Opens gates on the parametrized backend; each Redis gate has its own connection pool, so
    several of them stand for several replicas. Closed at the end of the test."""
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    opened: list[QuotaGate] = []

    async def make(default: QuotaLimits = NO_LIMITS, *, settings: QuotaSettings | None = None,
                   registry: CollectorRegistry | None = None, **kw: object) -> QuotaGate:
        s = settings or settings_for(backend, url, default)
        gate = await QuotaGate.open(s, registry or CollectorRegistry(), **kw)  # type: ignore[arg-type]
        opened.append(gate)
        return gate

    yield make
    for g in opened:
        await g.aclose()
