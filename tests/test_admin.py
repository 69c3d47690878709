"""The admin listener through a real HTTP client: metrics exposition, health, readiness, usage."""

from __future__ import annotations

import gzip
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pytest_aiohttp import AiohttpClient

from proxy.admin import create_admin_app
from proxy.config import Metrics as MetricsConfig
from proxy.metering import Totals
from proxy.metrics import Metrics
from proxy.pipeline.runtime import Readiness
from proxy.usage.base import Usage
from tests.records import T0, make


class Parts(NamedTuple):
    registry: CollectorRegistry
    metrics: Metrics
    totals: Totals
    readiness: Readiness


@pytest.fixture
def parts() -> Parts:
    reg = CollectorRegistry()
    return Parts(reg, Metrics(reg, MetricsConfig(), version="1.2.3", priced=True), Totals(since=T0),
                 Readiness())


async def client_for(aiohttp_client: AiohttpClient, parts: Parts) -> TestClient[Any, Any]:
    return await aiohttp_client(create_admin_app(parts.registry, parts.totals, parts.readiness))


async def test_metrics_text_exposition(aiohttp_client: AiohttpClient, parts: Parts) -> None:
    metrics = parts.metrics
    metrics.observe(make(), Decimal("0.5"))
    client = await client_for(aiohttp_client, parts)
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    [sample] = [s for s in families["lava_sidecar_requests"].samples if s.name.endswith("_total")]
    assert sample.labels["customer"] == "cus_1"
    assert sample.value == 1


async def test_metrics_openmetrics_and_gzip(aiohttp_client: AiohttpClient, parts: Parts) -> None:
    client = await client_for(aiohttp_client, parts)
    resp = await client.get("/metrics", headers={"Accept": "application/openmetrics-text",
                                                 "Accept-Encoding": "gzip"},
                            auto_decompress=False)
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert resp.headers["Content-Encoding"] == "gzip"
    body = gzip.decompress(await resp.read())
    assert body.endswith(b"# EOF\n")


async def test_health_and_readiness(aiohttp_client: AiohttpClient, parts: Parts) -> None:
    ready = parts.readiness
    client = await client_for(aiohttp_client, parts)
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 503  # starting
    ready.started = True
    assert (await client.get("/readyz")).status == 200
    ready.draining = True
    assert (await client.get("/readyz")).status == 503
    assert (await client.get("/healthz")).status == 200  # draining is not dead


async def test_usage_totals_and_filter(aiohttp_client: AiohttpClient, parts: Parts) -> None:
    totals = parts.totals
    totals.add(make(), Decimal("0.25"))
    totals.add(make(customer_id="cus_2", usage=Usage(input_tokens=7, source="provider")), None)
    client = await client_for(aiohttp_client, parts)
    resp = await client.get("/usage")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    doc = await resp.json()
    assert set(doc["customers"]) == {"cus_1", "cus_2"}
    assert doc["customers"]["cus_1"]["total"]["charge_usd"] == "0.25"
    assert doc["meters"]["tokens"]["requests"] == 2
    one = await (await client.get("/usage", params={"customer": "cus_2"})).json()
    assert list(one["customers"]) == ["cus_2"]
    assert one["customers"]["cus_2"]["total"]["input_tokens"] == 7
    none = await (await client.get("/usage", params={"customer": "cus_unknown"})).json()
    assert none["customers"] == {}


async def test_usage_rejects_a_malformed_customer(aiohttp_client: AiohttpClient,
                                                  parts: Parts) -> None:
    client = await client_for(aiohttp_client, parts)
    resp = await client.get("/usage", params={"customer": "x" * 129})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "customer_id_invalid"


async def test_only_the_admin_routes(aiohttp_client: AiohttpClient, parts: Parts) -> None:
    client = await client_for(aiohttp_client, parts)
    assert (await client.get("/v1/chat/completions")).status == 404
    assert (await client.post("/metrics")).status == 405
