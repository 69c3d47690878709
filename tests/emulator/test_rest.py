"""The management REST API over real HTTP on loopback: auth, meters, plans, bundles, pagination,
error shapes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from proxy.emulator.rest import create_app

from .accounts_setup import SECRET, World, world

Client = TestClient[Any, Any]
AUTH = {"Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def w() -> World:
    return world()


@pytest.fixture
async def api(w: World, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    return await aiohttp_client(create_app(w.accounts))


async def call(api: Client, method: str, path: str, body: object = None,
               expect: int = 200, **params: str) -> Any:
    resp = await api.request(method, f"/v1{path}", json=body, headers=AUTH, params=params)
    doc = await resp.json()
    assert resp.status == expect, doc
    return doc


async def error(api: Client, method: str, path: str, body: object = None, *,
                expect: int = 400, **params: str) -> str:
    doc = await call(api, method, path, body, expect, **params)
    assert set(doc) == {"error"}
    assert doc["error"]["message"]
    return str(doc["error"]["code"])


TOKENS_METER = {"name": "Chat tokens", "rate_type": "fixed", "tier_type": "tokens_1m",
                "tiers": [{"start": "0", "rate": "3.00"}]}


async def test_every_route_wants_a_known_secret_key(api: Client) -> None:
    for headers, code in (({}, "missing_api_key"),
                          ({"Authorization": "Bearer aks_test_wrong0000000000000"},
                           "invalid_api_key"),
                          ({"Authorization": "Basic abc"}, "missing_api_key")):
        resp = await api.get("/v1/meters", headers=headers)
        assert resp.status == 401
        doc = await resp.json()
        assert doc["error"]["code"] == code
        assert "aks_test_wrong" not in doc["error"]["message"]


async def test_meter_lifecycle(api: Client) -> None:
    m = await call(api, "POST", "/meters", TOKENS_METER)
    assert m["meter_slug"] == "chat-tokens"
    assert m["tiers"] == [{"start": 0, "rate": "3.00", "type": "tokens_1m"}]
    assert m["meter_id"].startswith("mtr_")
    again = await call(api, "POST", "/meters", TOKENS_METER)
    assert again["meter_slug"] == "chat-tokens-2"
    assert await call(api, "GET", f"/meters/{m['meter_id']}") == m
    tiers = [{"start": "0", "rate": "5"}, {"start": 1_000_000, "rate": "3"}]
    updated = await call(api, "PATCH", f"/meters/{m['meter_id']}",
                         {"name": "Renamed", "tiers": tiers})
    assert updated["name"] == "Renamed"
    assert [t["start"] for t in updated["tiers"]] == [0, 1_000_000]
    assert updated["meter_slug"] == m["meter_slug"]
    for field in ("rate_type", "tier_type", "meter_slug"):
        code = await error(api, "PATCH", f"/meters/{m['meter_id']}", {field: "x"})
        assert code == "immutable_field"
    assert await call(api, "DELETE", f"/meters/{m['meter_id']}") == {
        "id": m["meter_id"], "deleted": True}
    assert await error(api, "GET", f"/meters/{m['meter_id']}", expect=404) == "meter_not_found"


@pytest.mark.parametrize(("patch", "code"), [
    ({"tiers": [{"start": "5", "rate": "1"}]}, "invalid_tiers"),
    ({"tiers": [{"start": "0", "rate": "1"}, {"start": "0", "rate": "2"}]}, "invalid_tiers"),
    ({"tiers": []}, "invalid_tiers"),
    ({"tiers": [{"start": "0", "rate": "-1"}]}, "invalid_tiers"),
    ({"tiers": [{"start": "0", "rate": "abc"}]}, "invalid_parameter"),
    ({"rate_type": "flat"}, "invalid_parameter"),
    ({"tier_type": "tokens"}, "invalid_parameter"),
    ({"name": ""}, "invalid_parameter"),
    ({"meter_slug": "Not A Slug"}, "invalid_meter_slug"),
])
async def test_meter_validation(api: Client, patch: dict[str, object], code: str) -> None:
    assert await error(api, "POST", "/meters", {**TOKENS_METER, **patch}) == code


async def test_a_given_slug_must_be_free(api: Client) -> None:
    await call(api, "POST", "/meters", {**TOKENS_METER, "meter_slug": "chat"})
    code = await error(api, "POST", "/meters", {**TOKENS_METER, "meter_slug": "chat"})
    assert code == "meter_slug_taken"


async def test_plans_link_meters_and_carry_credit_bundles(api: Client) -> None:
    m = await call(api, "POST", "/meters", TOKENS_METER)
    p = await call(api, "POST", "/plans", {
        "name": "Pro", "period_amount": "20.00", "billing_interval": "month",
        "included_credit": "15", "rollover_type": "full", "meter_ids": [m["meter_id"]],
        "credit_bundles": [{"name": "Small", "cost": "5", "credit_amount": "5"},
                           {"name": "Big", "cost": 18, "credit_amount": "20"}],
        "default_auto_top_up_bundle_index": 1})
    assert p["period_amount"] == "20.0000000000"
    assert p["included_credit"] == "15.0000000000"
    assert (p["rollover_type"], p["bundle_rollover_type"]) == ("full", "none")
    assert p["linked_meters"] == [{"meter_id": m["meter_id"], "name": m["name"]}]
    names = [b["name"] for b in p["credit_bundles"]]
    assert names == ["Small", "Big"]
    big = p["credit_bundles"][1]["credit_bundle_id"]
    assert p["default_auto_top_up_bundle_id"] == big
    bundles = await call(api, "GET", "/credit_bundles", plan_id=p["plan_id"])
    assert {b["credit_bundle_id"] for b in bundles["data"]} == {
        b["credit_bundle_id"] for b in p["credit_bundles"]}
    one = await call(api, "GET", f"/credit_bundles/{big}")
    assert (one["plan_id"], one["credit_amount"]) == (p["plan_id"], "20.0000000000")

    small = p["credit_bundles"][0]["credit_bundle_id"]
    changed = await call(api, "PATCH", f"/plans/{p['plan_id']}", {
        "name": "Pro 2", "meter_ids": [], "credit_bundles": [
            {"credit_bundle_id": small, "is_deleted": True},
            {"name": "Huge", "cost": "50", "credit_amount": "60"}]})
    assert changed["name"] == "Pro 2"
    assert changed["linked_meters"] == []
    assert [b["name"] for b in changed["credit_bundles"]] == ["Big", "Huge"]
    for field in ("period_amount", "billing_interval"):
        code = await error(api, "PATCH", f"/plans/{p['plan_id']}", {field: "1"})
        assert code == "immutable_field"
    assert await call(api, "DELETE", f"/plans/{p['plan_id']}") == {
        "id": p["plan_id"], "deleted": True}
    assert await error(api, "GET", f"/credit_bundles/{big}", expect=404) == (
        "credit_bundle_not_found")


@pytest.mark.parametrize(("body", "code"), [
    ({"period_amount": "10", "included_credit": "11"}, "invalid_included_credit"),
    ({"period_amount": "10001"}, "invalid_period_amount"),
    ({"period_amount": "-1"}, "invalid_period_amount"),
    ({"period_amount": "10", "billing_interval": "fortnight"}, "invalid_parameter"),
    ({"period_amount": "10", "meter_ids": ["mtr_nope"]}, "meter_not_found"),
    ({"period_amount": "10", "default_auto_top_up_bundle_index": 0},
     "invalid_auto_top_up_bundle"),
    ({}, "missing_parameter"),
])
async def test_plan_validation(api: Client, body: dict[str, object], code: str) -> None:
    status = 404 if code.endswith("not_found") else 400
    assert await error(api, "POST", "/plans", {"name": "P", **body}, expect=status) == code


async def test_every_merchant_starts_with_a_free_plan_it_cannot_delete(api: Client) -> None:
    plans = await call(api, "GET", "/plans")
    free = [p for p in plans["data"] if p["name"] == "Free"]
    assert len(free) == 1
    assert free[0]["period_amount"] == "0.0000000000"
    code = await error(api, "DELETE", f"/plans/{free[0]['plan_id']}")
    assert code == "plan_is_default"


async def test_lists_page_newest_first_by_cursor(api: Client) -> None:
    made = [(await call(api, "POST", "/meters", {**TOKENS_METER, "name": f"m{i}"}))["meter_id"]
            for i in range(25)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "10"} | ({"cursor": cursor} if cursor else {})
        doc = await call(api, "GET", "/meters", **params)
        assert set(doc) == {"data", "has_more", "next_cursor"}
        seen += [m["meter_id"] for m in doc["data"]]
        pages += 1
        if not doc["has_more"]:
            assert doc["next_cursor"] is None
            break
        cursor = doc["next_cursor"]
    assert pages == 3
    assert seen == list(reversed(made))
    # Lava documents 100 as the largest page, not a refusal: a larger limit gets 100.
    big = await call(api, "GET", "/meters", limit="1000")
    assert len(big["data"]) == 25
    assert big["has_more"] is False
    assert await error(api, "GET", "/meters", limit="0") == "invalid_parameter"
    assert await error(api, "GET", "/meters", cursor="mtr_gone") == "invalid_cursor"


async def test_bodies_must_be_json_objects(api: Client) -> None:
    for raw in (b"{not json", b"[1, 2]"):
        resp = await api.post("/v1/meters", data=raw, headers=AUTH)
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid_json"
    resp = await api.post("/v1/meters", data=b" " * (300 * 1024), headers=AUTH)
    assert resp.status in (400, 413)


async def test_secret_keys_are_shown_once_and_work_at_once(api: Client) -> None:
    made = await call(api, "POST", "/secret_keys", {"name": "ci"})
    raw = made["secret_key"]
    assert raw.startswith("aks_test_")
    listed = await call(api, "GET", "/secret_keys")
    assert all("secret_key" not in k for k in listed["data"])
    hints = {k["secret_key_id"]: k["secret_key_hint"] for k in listed["data"]}
    assert hints[made["secret_key_id"]].endswith(raw[-4:])
    assert raw not in str(listed)
    resp = await api.get("/v1/meters", headers={"Authorization": f"Bearer {raw}"})
    assert resp.status == 200
    mine = next(k for k in listed["data"] if k["secret_key_id"] != made["secret_key_id"])
    code = await error(api, "DELETE", f"/secret_keys/{mine['secret_key_id']}")
    assert code == "secret_key_in_use"
    assert await call(api, "DELETE", f"/secret_keys/{made['secret_key_id']}") == {
        "id": made["secret_key_id"], "deleted": True}
    resp = await api.get("/v1/meters", headers={"Authorization": f"Bearer {raw}"})
    assert resp.status == 401


async def test_webhooks_at_most_three_secret_returned_once(api: Client) -> None:
    made = [await call(api, "POST", "/webhooks", {"name": f"h{i}",
                                                  "url": f"https://example.com/h{i}"})
            for i in range(3)]
    assert all(h["webhook_secret"].startswith("whsec_") for h in made)
    code = await error(api, "POST", "/webhooks", {"url": "https://example.com/h4"})
    assert code == "webhook_limit_reached"
    one = await call(api, "GET", f"/webhooks/{made[0]['webhook_id']}")
    assert "webhook_secret" not in one
    listed = await call(api, "GET", "/webhooks")
    assert made[0]["webhook_secret"] not in str(listed)
    patched = await call(api, "PATCH", f"/webhooks/{made[0]['webhook_id']}",
                         {"url": "http://127.0.0.1:9/x"})
    assert patched["url"] == "http://127.0.0.1:9/x"
    assert await error(api, "POST", "/webhooks", {"url": "ftp://x"}) in (
        "invalid_webhook_url", "webhook_limit_reached")
    await call(api, "DELETE", f"/webhooks/{made[0]['webhook_id']}")
    assert await error(api, "POST", "/webhooks", {"url": "ftp://x"}) == "invalid_webhook_url"
