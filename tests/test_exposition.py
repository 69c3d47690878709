"""The /metrics body cache: one render per interval and representation, shared by concurrent
scrapes, byte-identical to prometheus_client's own output, bounded whatever ``Accept`` says."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.openmetrics import exposition as om
from prometheus_client.registry import Collector

from proxy.config import Metrics as MetricsConfig
from proxy.metrics import Metrics
from proxy.metrics.exposition import ExpositionCache, negotiate
from tests.records import make


class CountingCollector(Collector):
    """A real collector that counts how often the registry is collected (= rendered), and can
    hold a render until the test lets it finish."""

    def __init__(self) -> None:
        self.collects = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def collect(self) -> Iterator[CounterMetricFamily]:
        self.collects += 1
        self.entered.set()
        assert self.release.wait(10)
        yield CounterMetricFamily("renders", "times collected", value=self.collects)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def registry_with(collector: Collector) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(collector)
    Counter("things", "things counted", ["kind"], registry=reg).labels("a").inc(3)
    return reg


async def test_concurrent_scrapes_share_one_render() -> None:
    counting = CountingCollector()
    counting.release.clear()
    cache = ExpositionCache(registry_with(counting), clock=Clock())
    scrapes = [asyncio.ensure_future(cache.get("", gzipped=False)) for _ in range(50)]
    assert await asyncio.to_thread(counting.entered.wait, 10)  # the render is under way, held
    await asyncio.sleep(0.01)  # every scrape has reached its await
    counting.release.set()
    bodies = {(await s).body for s in scrapes}
    assert counting.collects == 1
    assert len(bodies) == 1


async def test_renders_again_only_after_the_interval() -> None:
    counting = CountingCollector()
    clock = Clock()
    cache = ExpositionCache(registry_with(counting), max_age=1.0, clock=clock)
    first = await cache.get("", gzipped=False)
    clock.now += 0.99
    assert await cache.get("", gzipped=False) is first
    assert counting.collects == 1
    clock.now += 0.02
    again = await cache.get("", gzipped=False)
    assert counting.collects == 2
    assert b"renders_total 2.0" in again.body


async def test_each_representation_renders_once() -> None:
    counting = CountingCollector()
    cache = ExpositionCache(registry_with(counting), clock=Clock())
    for _ in range(3):
        await cache.get("", gzipped=False)
        await cache.get("", gzipped=True)
        await cache.get("application/openmetrics-text", gzipped=True)
    assert counting.collects == 3


async def test_a_scraper_leaving_mid_render_does_not_cancel_it_for_the_others() -> None:
    counting = CountingCollector()
    counting.release.clear()
    cache = ExpositionCache(registry_with(counting), clock=Clock())
    leaving = asyncio.ensure_future(cache.get("", gzipped=False))
    staying = asyncio.ensure_future(cache.get("", gzipped=False))
    assert await asyncio.to_thread(counting.entered.wait, 10)
    leaving.cancel()
    counting.release.set()
    assert b"things_total" in (await staying).body
    assert counting.collects == 1


async def test_a_failed_render_is_not_cached() -> None:
    class Failing(Collector):
        fail = True

        def collect(self) -> Iterator[CounterMetricFamily]:
            if Failing.fail:
                raise RuntimeError("collector broke")
            yield CounterMetricFamily("ok", "fine", value=1)

    cache = ExpositionCache(registry_with(Failing()), clock=Clock())
    with pytest.raises(RuntimeError):
        await cache.get("", gzipped=False)
    Failing.fail = False
    assert b"ok_total 1.0" in (await cache.get("", gzipped=False)).body


@pytest.fixture
def sidecar_registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    metrics = Metrics(reg, MetricsConfig(), version="1.2.3", priced=True)
    metrics.observe(make(), Decimal("0.5"))
    metrics.observe(make(customer_id="cus_2"), None)
    return reg


@pytest.mark.parametrize(("accept", "expected"), [
    ("", generate_latest),
    ("text/plain;version=0.0.4", generate_latest),
    ("application/openmetrics-text; version=1.0.0", om.generate_latest),
    ("application/openmetrics-text", om.generate_latest),
])
async def test_bodies_are_prometheus_clients_own(sidecar_registry: CollectorRegistry, accept: str,
                                                expected: object) -> None:
    cache = ExpositionCache(sidecar_registry, clock=Clock())
    plain = await cache.get(accept, gzipped=False)
    zipped = await cache.get(accept, gzipped=True)
    want = expected(sidecar_registry)  # type: ignore[operator]
    assert plain.body == want
    assert gzip.decompress(zipped.body) == want
    assert zipped.gzipped
    assert not plain.gzipped


@pytest.mark.parametrize("accept", [
    "application/openmetrics-text; version=7.7.7",  # echoed into the content type by choose_encoder
    "application/openmetrics-text; version=x",  # makes choose_encoder raise TypeError
    "text/plain; version=x",
])
def test_unknown_versions_get_the_default_text_format(accept: str) -> None:
    assert negotiate(accept)[1] == CONTENT_TYPE_PLAIN_0_0_4


def test_known_versions_keep_prometheus_clients_content_type() -> None:
    assert negotiate("application/openmetrics-text; version=1.0.0; escaping=values")[1] == (
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=values")
    assert negotiate("text/plain; version=1.0.0")[1].startswith("text/plain; version=1.0.0")


async def test_hostile_accept_headers_cannot_grow_the_cache() -> None:
    counting = CountingCollector()
    cache = ExpositionCache(registry_with(counting), clock=Clock())
    for i in range(200):
        await cache.get(f"application/openmetrics-text; version=1.0.{i}", gzipped=False)
    assert counting.collects <= 2  # version 1.0.0 itself, and the default for every other one
