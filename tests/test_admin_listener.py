"""The admin listener as the sidecar serves it (``AdminRunner`` on loopback), through raw sockets:
aiohttp's own refusals answered in JSON without echoing the request or flooding the log, and a
scrape flood rendering the registry once."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from proxy.admin import create_admin_app
from proxy.adminserver import MAX_REQUEST_LINE, AdminRunner
from proxy.logthrottle import Throttle
from proxy.metering import Totals
from proxy.pipeline.runtime import Readiness
from tests.records import T0
from tests.stack import running_stack

HUGE = b"x" * 100_000


class Capture(logging.Handler):
    """Every record at INFO or above, from any logger (the sidecar's, aiohttp's, the root)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logs() -> Iterator[Capture]:
    cap = Capture()
    loggers = [logging.getLogger(n) for n in ("", "lava_sidecar", "lava_sidecar.admin", "aiohttp")]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(cap)
        lg.propagate = False  # each record reaches ``cap`` once
    logging.getLogger("lava_sidecar.admin").setLevel(logging.INFO)
    try:
        yield cap
    finally:
        for lg, (level, propagate) in zip(loggers, saved, strict=True):
            lg.removeHandler(cap)
            lg.setLevel(level)
            lg.propagate = propagate


@dataclass
class Admin:
    port: int
    runner: AdminRunner


@asynccontextmanager
async def serve(registry: CollectorRegistry) -> AsyncIterator[Admin]:
    runner = AdminRunner(create_admin_app(registry, Totals(since=T0), Readiness()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield Admin(runner.addresses[0][1], runner)
    finally:
        await runner.cleanup()


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    async with serve(CollectorRegistry()) as a:
        yield a


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` whole, read one response (the admin listener closes after a refusal)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            body = await reader.readexactly(int(headers["content-length"]))
        return status, headers, body
    finally:
        writer.close()


def assert_quiet(logs: Capture, *, at_most: int) -> None:
    """At most ``at_most`` lines, each at INFO, without a traceback or a byte of the request."""
    assert len(logs.records) <= at_most, [r.getMessage() for r in logs.records]
    for r in logs.records:
        assert r.levelno == logging.INFO
        assert r.exc_info is None
        assert r.exc_text is None
        assert "xxxxxxxx" not in r.getMessage()
        assert "xxxxxxxx" not in str(vars(r))


async def test_a_100kb_request_line_is_a_json_414_without_echo_or_log_flood(
        admin: Admin, logs: Capture) -> None:
    # 414, not 400 or 431: what is too long is the request target (RFC 9110 §15.5.15), and the
    # admin listener says which limit, so the caller knows it is the query, not a header.
    for _ in range(20):
        status, headers, body = await exchange(
            admin.port, b"GET /usage?customer=" + HUGE + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        assert status == 414
        assert headers["content-type"].startswith("application/json")
        assert headers["x-lava-sidecar-error"] == "request_uri_too_long"
        doc = json.loads(body)
        assert doc["error"]["code"] == "request_uri_too_long"
        assert str(MAX_REQUEST_LINE) in doc["error"]["message"]
        assert b"customer=x" not in body
        assert b"xxx" not in body
    assert_quiet(logs, at_most=1)
    [line] = logs.records
    assert line.name == "lava_sidecar.admin"
    assert getattr(line, "status", None) == 414
    assert getattr(line, "suppressed", None) == 0


async def test_a_huge_header_is_a_json_431(admin: Admin, logs: Capture) -> None:
    status, _headers, body = await exchange(
        admin.port, b"GET /metrics HTTP/1.1\r\nHost: a\r\nX-Pad: " + HUGE + b"\r\n\r\n")
    assert status == 431
    assert json.loads(body)["error"]["code"] == "request_header_too_large"
    assert b"xxx" not in body
    assert b"X-Pad" not in body
    assert_quiet(logs, at_most=1)


@pytest.mark.parametrize("raw", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03xxxxxxxx\r\n\r\n",  # TLS to a plain-HTTP port
    b"GET /metrics HTTP/1.1\r\nHost: a\r\nBad\x01Header: xxxxxxxx\r\n\r\n",
    b"GET /metrics xxxxxxxx\r\n\r\n",
])
async def test_not_http_is_a_json_400(admin: Admin, logs: Capture, raw: bytes) -> None:
    status, _, body = await exchange(admin.port, raw)
    assert status == 400
    assert json.loads(body)["error"]["code"] == "invalid_http"
    assert b"xxx" not in body
    assert_quiet(logs, at_most=1)


async def test_mixed_refusals_share_one_log_line(admin: Admin, logs: Capture) -> None:
    for raw in (b"GET /usage?customer=" + HUGE + b" HTTP/1.1\r\n\r\n",
                b"GET / HTTP/1.1\r\nX: " + HUGE + b"\r\n\r\n", b"\x16\x03\x01xxxxxxxx\r\n\r\n") * 5:
        assert (await exchange(admin.port, raw))[0] in (400, 414, 431)
    assert_quiet(logs, at_most=1)


async def test_unknown_path_and_method_are_json_and_the_listener_keeps_serving(admin: Admin) -> None:
    status, _, body = await exchange(admin.port, b"GET /xxxxxxxx HTTP/1.1\r\nHost: a\r\n"
                                                 b"Connection: close\r\n\r\n")
    assert status == 404
    assert json.loads(body)["error"]["code"] == "route_not_found"
    assert b"xxx" not in body
    status, headers, body = await exchange(admin.port, b"POST /metrics HTTP/1.1\r\nHost: a\r\n"
                                                       b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    assert status == 405
    assert json.loads(body)["error"]["code"] == "method_not_allowed"
    assert "GET" in headers["allow"]
    status, _, body = await exchange(admin.port, b"GET /healthz HTTP/1.1\r\nHost: a\r\n"
                                                 b"Connection: close\r\n\r\n")
    assert (status, body) == (200, b"ok\n")


async def test_the_usage_querys_own_validation_keeps_its_code(admin: Admin) -> None:
    status, _, body = await exchange(admin.port, b"GET /usage?customer=" + b"y" * 200 +
                                     b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert status == 400
    assert json.loads(body)["error"]["code"] == "customer_id_invalid"


class SlowCountingCollector(Collector):
    """A real collector that counts collect() calls and, the first time, waits until ``until()``
    says every scrape is in flight, so the scrapes overlap one render."""

    def __init__(self) -> None:
        self.collects = 0
        self.until: Callable[[], bool] = lambda: True

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self.collects += 1
        deadline = time.monotonic() + 10
        while not self.until() and time.monotonic() < deadline:
            time.sleep(0.002)
        yield GaugeMetricFamily("sidecar_things", "a constant", value=42)


async def test_a_scrape_flood_renders_once(logs: Capture) -> None:
    collector = SlowCountingCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    scrapers = 40
    async with serve(registry) as admin:
        server = admin.runner.server
        assert server is not None
        # Held until aiohttp counts every scrape in flight: they all overlap this one render.
        collector.until = lambda: server.requests_count >= scrapers
        async with aiohttp.ClientSession() as http:

            async def scrape() -> bytes:
                async with http.get(f"http://127.0.0.1:{admin.port}/metrics") as r:
                    assert r.status == 200
                    return await r.read()

            bodies = await asyncio.gather(*(scrape() for _ in range(scrapers)))
        assert collector.collects == 1
        assert set(bodies) == {generate_latest(registry)}
    assert logs.records == []


async def test_the_running_sidecar_serves_this_listener(tmp_path: Path, logs: Capture) -> None:
    async with running_stack(tmp_path) as stack:
        port = int(stack.admin_url.rsplit(":", 1)[1])
        for _ in range(5):
            status, _, body = await exchange(
                port, b"GET /usage?customer=" + HUGE + b" HTTP/1.1\r\nHost: a\r\n\r\n")
            assert status == 414
            assert b"xxx" not in body
        async with aiohttp.ClientSession() as http, http.get(stack.admin_url + "/metrics") as r:
            assert r.status == 200
            assert "lava_sidecar_build_info" in await r.text()
    refusals = [r for r in logs.records if r.name == "lava_sidecar.admin"]
    assert len(refusals) == 1
    assert all(r.exc_info is None for r in logs.records)


def test_throttle_admits_one_line_per_interval_and_counts_the_rest() -> None:
    t = Throttle(10.0)
    assert t.admit(0.0) == 0
    assert [t.admit(s) for s in (1.0, 5.0, 9.9)] == [None, None, None]
    assert t.admit(10.0) == 3
    assert t.admit(10.1) is None
    assert t.admit(25.0) == 1
