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
from proxy.metering.tally import Tally
from proxy.metering.usagepage import DEFAULT_LIMIT
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


async def test_usage_pages_follow_the_cursor(aiohttp_client: AiohttpClient, parts: Parts) -> None:
    totals = parts.totals
    for i in range(250):
        totals.add(make(customer_id=f"cus_{i:03d}"), Decimal("0.01"))
    client = await client_for(aiohttp_client, parts)
    first = await (await client.get("/usage")).json()
    assert len(first["customers"]) == DEFAULT_LIMIT
    assert first["has_more"] is True
    assert (first["customers_kept"], first["max_customers"]) == (250, totals.max_customers)
    # The first page carries the totals; they count every record.
    assert first["meters"]["tokens"]["requests"] == first["meters_records"] == 250
    assert first["total"]["charge_usd"] == "2.50"
    assert first["evicted"] == {"customers": 0, "total": Tally().to_json(), "meters": {}}
    seen = list(first["customers"])
    cursor = first["next_cursor"]
    while cursor is not None:
        resp = await client.get("/usage", params={"limit": "60", "cursor": cursor})
        assert resp.status == 200
        page = await resp.json()
        assert "meters" not in page
        assert len(page["customers"]) <= 60
        seen += list(page["customers"])
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
    assert seen == [f"cus_{i:03d}" for i in range(250)]


@pytest.mark.parametrize(("query", "code"), [
    ({"limit": "0"}, "limit_invalid"), ({"limit": "1001"}, "limit_invalid"),
    ({"limit": "ten"}, "limit_invalid"), ({"limit": "\u00b2"}, "limit_invalid"),
    ({"limit": "9" * 400}, "limit_invalid"),
    ({"cursor": "not a cursor"}, "cursor_invalid"), ({"cursor": "x" * 65}, "cursor_invalid"),
    ({"cursor": "YWJjZC4xMA"}, "cursor_invalid"),  # "abcd.10": another run's
    ({"cursor": ""}, "cursor_invalid"),
])
async def test_usage_refuses_a_bad_limit_or_cursor_with_a_sentence(
        aiohttp_client: AiohttpClient, parts: Parts, query: dict[str, str], code: str) -> None:
    client = await client_for(aiohttp_client, parts)
    resp = await client.get("/usage", params=query)
    assert resp.status == 400
    assert resp.headers["x-lava-sidecar-error"] == code
    err = (await resp.json())["error"]
    assert err["code"] == code
    assert "limit must be" in err["message"] or "start again without cursor" in err["message"]


async def test_a_cursor_from_before_a_restart_is_refused(aiohttp_client: AiohttpClient,
                                                         parts: Parts) -> None:
    for i in range(3):
        parts.totals.add(make(customer_id=f"c{i}"), None)
    client = await client_for(aiohttp_client, parts)
    cursor = (await (await client.get("/usage", params={"limit": "1"})).json())["next_cursor"]
    assert (await client.get("/usage", params={"cursor": cursor})).status == 200
    restarted = parts._replace(totals=Totals(since=T0))  # another run of the sidecar
    other = await client_for(aiohttp_client, restarted)
    assert (await other.get("/usage", params={"cursor": cursor})).status == 400


async def test_only_the_admin_routes(aiohttp_client: AiohttpClient, parts: Parts) -> None:
    client = await client_for(aiohttp_client, parts)
    assert (await client.get("/v1/chat/completions")).status == 404
    assert (await client.post("/metrics")).status == 405
