"""The hosted checkout page's handlers over real HTTP on loopback (no browser): what it shows,
what a submit completes (through the same ``complete_checkout`` as the REST stand-in, webhooks
included), and what it refuses: unknown and completed secrets, a form without its token or from
another origin, invalid input (re-rendered beside the field), hostile names (escaped)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from ..accounts_setup import SECRET, World, world
from .pages import (
    HOSTILE,
    Client,
    call,
    catalog,
    get_page,
    nonce_of,
    page_path,
    pages_app,
    post_form,
    read,
    session,
)

ORIGIN = "http://127.0.0.1:3000"


@pytest.fixture
def w() -> World:
    return world()


@pytest.fixture
async def client(w: World, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    return await aiohttp_client(pages_app(w))


async def _form(client: Client, path: str) -> dict[str, str]:
    page, _ = await get_page(client, path)
    return {"csrf_token": page.inputs["csrf_token"]}


async def test_the_page_shows_the_plan_and_a_form_with_its_token(client: Client) -> None:
    _, plan = await catalog(client)
    cs = await session(client, plan["plan_id"])
    page, resp = await get_page(client, page_path(cs))
    assert page.ids["plan-name"] == "Pro"
    assert page.ids["price"] == "$20.00"
    assert page.ids["interval"].strip() == "per month"
    assert "$20.00 of usage credit every month" in page.ids["included-credit"]
    assert set(page.inputs) == {"csrf_token", "phone", "email", "first_name", "last_name"}
    assert "required" in page.attrs["phone"]
    assert page.ids["cancel"] == "Cancel"
    assert page.data() == {"checkoutSessionId": cs["checkout_session_id"], "targetOrigin": ORIGIN}
    # Headers: only this response's nonce runs; only the session's origin may frame it.
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert f"frame-ancestors {ORIGIN}" in csp
    assert "X-Frame-Options" not in resp.headers
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    nonce = nonce_of(resp)
    assert page.scripts
    assert all(a.get("nonce") == nonce for a, _ in page.scripts)
    assert SECRET not in page.html
    assert "aks_" not in page.html


async def test_hostile_names_are_text_everywhere(client: Client) -> None:
    _, plan = await catalog(client, plan_name=HOSTILE, meter_name=HOSTILE, bundle_name=HOSTILE)
    cs = await session(client, plan["plan_id"])
    path = page_path(cs)
    page, _ = await get_page(client, path)
    assert page.ids["plan-name"] == HOSTILE          # shown as the text it is
    assert "<script>alert" not in page.html
    assert "<img" not in page.html
    assert len(page.scripts) == 2                    # the data block and the page's own script
    # Values typed into the form come back escaped too.
    bad, _ = await post_form(client, path, {**await _form(client, path), "phone": "1",
                                            "first_name": HOSTILE}, expect=400)
    assert bad.inputs["first_name"] == HOSTILE
    assert "<img" not in bad.html
    # The top-up page names the bundle.
    done, _ = await post_form(client, path, {**await _form(client, path), "phone": "+15555550100"})
    bundle = plan["credit_bundles"][0]["credit_bundle_id"]
    topup = await session(client, customer_id=done.data()["customerId"], bundle_id=bundle)
    page, _ = await get_page(client, page_path(topup))
    assert page.ids["bundle-name"] == HOSTILE
    assert "<img" not in page.html


async def test_submit_completes_like_the_rest_stand_in(client: Client, w: World) -> None:
    _, plan = await catalog(client)
    await call(client, "POST", "/webhooks", {"name": "hooks", "url": "http://127.0.0.1:9/h"})
    w.deliveries.clear()
    cs = await session(client, plan["plan_id"])
    path = page_path(cs)
    form = {**await _form(client, path), "phone": "+1 (555) 555-0123", "email": "ada@example.com",
            "first_name": "Ada", "last_name": "Lovelace"}
    done, resp = await post_form(client, path, form, Origin=str(client.make_url("")).rstrip("/"))
    data = done.data()
    assert data["checkoutSessionId"] == cs["checkout_session_id"]
    assert data["targetOrigin"] == ORIGIN
    assert data["customerId"].startswith("con_")
    assert "lava_checkout_success" in done.scripts[-1][1]
    assert "connectionId:d.customerId" in done.scripts[-1][1]
    assert f"frame-ancestors {ORIGIN}" in resp.headers["Content-Security-Policy"]
    # Lava's records: the session completed, the customer, the subscription, the webhooks.
    after = await call(client, "GET", f"/checkout_sessions/{cs['checkout_session_id']}")
    assert after["completed_at"] is not None
    assert after["customer_id"] == data["customerId"]
    customer = await call(client, "GET", f"/customers/{data['customerId']}")
    assert customer["contact"] == {"phone": "+15555550123", "email": "ada@example.com",
                                   "first_name": "Ada", "last_name": "Lovelace"}
    sub = await call(client, "GET", f"/customers/{data['customerId']}/subscription")
    assert sub["subscription"]["plan_id"] == plan["plan_id"]
    assert sub["subscription"]["credits"]["total_remaining"] == "20.0000000000"
    assert w.events() == ["customer.created", "customer.wallet.balance.updated"]
    # Opening it again: 410, with a Close button that tells the embedding page.
    gone, _ = await get_page(client, path, expect=410)
    assert gone.ids["close"] == "Close"
    assert "already completed" in gone.html


async def test_unknown_and_malformed_secrets_are_404_pages(client: Client) -> None:
    for secret in ("css_test_" + "0" * 32, "css_test_nothex", "x" * 5000, "%3Cscript%3E"):
        page, _resp = await get_page(client, f"/embed/checkout/{secret}", expect=404)
        assert "Checkout not found" in page.html
        assert "<script>" not in page.ids.get("notice", "")
        assert page.data() == {"checkoutSessionId": None, "targetOrigin": "*"}
        resp2 = await client.post(f"/embed/checkout/{secret}", data={"phone": "+15555550100"})
        assert resp2.status == 404


async def _nothing_completed(client: Client, cs: Any, customers_before: int) -> None:
    after = await call(client, "GET", f"/checkout_sessions/{cs['checkout_session_id']}")
    assert after["completed_at"] is None
    assert after["customer_id"] is None
    assert len((await call(client, "GET", "/customers", limit="100"))["data"]) == customers_before


async def test_a_form_without_its_token_or_from_elsewhere_is_refused(client: Client) -> None:
    _, plan = await catalog(client)
    cs = await session(client, plan["plan_id"])
    path = page_path(cs)
    good = await _form(client, path)
    for form, headers in (({"phone": "+15555550100"}, {}),
                          ({"phone": "+15555550100", "csrf_token": "0" * 64}, {}),
                          ({"phone": "+15555550100", "csrf_token": good["csrf_token"][:-1]}, {}),
                          ({**good, "phone": "+15555550100"}, {"Origin": "http://evil.example"}),
                          ({**good, "phone": "+15555550100"}, {"Origin": "null"}),
                          ({**good, "phone": "+15555550100"}, {"Sec-Fetch-Site": "cross-site"})):
        page, _ = await post_form(client, path, form, expect=403, **headers)
        assert "expired or was not sent from this page" in page.html
        assert page.inputs["csrf_token"] == good["csrf_token"]  # the form to try again
    await _nothing_completed(client, cs, 0)
    # Another session's token does not open this one.
    other = await session(client, plan["plan_id"])
    theirs = await _form(client, page_path(other))
    await post_form(client, path, {**theirs, "phone": "+15555550100"}, expect=403)
    await _nothing_completed(client, cs, 0)


@pytest.mark.parametrize(("fields", "field", "says"), [
    ({}, "phone", "Enter your phone number"),
    ({"phone": "12"}, "phone", "country code"),
    ({"phone": "+1 555 ABC 0123"}, "phone", "country code"),
    ({"phone": "+15555550100", "email": "not-an-email"}, "email", "email address"),
    ({"phone": "+15555550100", "first_name": "A" * 81}, "first_name", "at most 80"),
    ({"phone": "+15555550100", "last_name": "bell\x07"}, "last_name", "printable"),
])
async def test_invalid_input_is_shown_beside_its_field(client: Client, fields: dict[str, str],
                                                       field: str, says: str) -> None:
    _, plan = await catalog(client)
    cs = await session(client, plan["plan_id"])
    path = page_path(cs)
    page, _ = await post_form(client, path, {**await _form(client, path), **fields}, expect=400)
    message = page.field_error(field)
    assert message is not None
    assert says in message
    assert page.attrs[field].get("aria-invalid") == "true"
    assert page.attrs[field].get("aria-describedby") == f"{field}-error"
    others = [f for f in ("phone", "email", "first_name", "last_name") if f != field]
    assert all(page.field_error(f) is None for f in others)
    for name, value in fields.items():  # what was typed is kept (trimmed)
        assert page.inputs[name] == value.strip()
    await _nothing_completed(client, cs, 0)


async def test_a_form_that_cannot_be_read_is_refused(client: Client) -> None:
    _, plan = await catalog(client)
    cs = await session(client, plan["plan_id"])
    path = page_path(cs)
    big = await client.post(path, data={"phone": "1" * 20_000})
    assert big.status == 400
    assert "could not be read" in await big.text()
    as_json = await client.post(path, json={"phone": "+15555550100"})
    assert as_json.status == 400
    many = await client.post(path, data="&".join(f"f{i}=1" for i in range(50)),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert many.status == 400
    await _nothing_completed(client, cs, 0)


async def test_a_double_submit_makes_one_customer_and_one_subscription(client: Client,
                                                                       w: World) -> None:
    _, plan = await catalog(client)
    cs = await session(client, plan["plan_id"])
    path = page_path(cs)
    form = {**await _form(client, path), "phone": "+15555550100"}
    pages = await asyncio.gather(*(post_form(client, path, form) for _ in range(3)))
    ids = {p.data()["customerId"] for p, _ in pages}
    assert len(ids) == 1
    customers = (await call(client, "GET", "/customers", limit="100"))["data"]
    assert [c["customer_id"] for c in customers] == list(ids)
    subs = (await call(client, "GET", "/subscriptions", status="all"))["data"]
    assert len(subs) == 1
    assert subs[0]["customer_id"] in ids
    # And later, once more: still the first answer, still one of each.
    again, _ = await post_form(client, path, form)
    assert again.data()["customerId"] in ids
    assert len((await call(client, "GET", "/subscriptions", status="all"))["data"]) == 1


async def test_a_top_up_adds_the_bundle_credit_without_contact_fields(client: Client) -> None:
    _, plan = await catalog(client)
    cs = await session(client, plan["plan_id"])
    path = page_path(cs)
    done, _ = await post_form(client, path, {**await _form(client, path), "phone": "+15555550100"})
    customer_id = done.data()["customerId"]
    bundle = plan["credit_bundles"][0]["credit_bundle_id"]
    topup = await session(client, customer_id=customer_id, bundle_id=bundle)
    tpath = page_path(topup)
    page, _ = await get_page(client, tpath)
    assert set(page.inputs) == {"csrf_token"}       # a returning customer types nothing
    assert page.ids["price"] == "$5.00"
    assert "$7.50 of credit" in page.ids["bundle-credit"]
    paid, _ = await post_form(client, tpath, {"csrf_token": page.inputs["csrf_token"]})
    assert paid.data()["customerId"] == customer_id
    credits = (await call(client, "GET", f"/customers/{customer_id}/subscription")
               )["subscription"]["credits"]
    assert credits["bundle_remaining"] == "7.5000000000"
    assert credits["total_remaining"] == "27.5000000000"


async def test_a_completed_session_through_rest_is_410_and_a_deleted_plan_too(
        client: Client) -> None:
    _, plan = await catalog(client)
    cs = await session(client, plan["plan_id"])
    await call(client, "POST", f"/checkout_sessions/{cs['checkout_session_id']}/complete",
               {"phone": "+15555550100"})
    page, _resp = await get_page(client, page_path(cs), expect=410)
    assert page.data()["checkoutSessionId"] == cs["checkout_session_id"]
    _, other = await catalog(client, plan_name="Gone")
    cs2 = await session(client, other["plan_id"])
    await call(client, "DELETE", f"/plans/{other['plan_id']}")
    page, _ = await get_page(client, page_path(cs2), expect=410)
    assert "no longer offered" in page.html


async def test_a_cancel_is_the_pages_own_business(client: Client) -> None:
    """Cancel posts ``lava_checkout_cancel`` from the page's script and sends nothing here: the
    script names the message and never submits the form."""
    _, plan = await catalog(client)
    cs = await session(client, plan["plan_id"])
    page, _ = await get_page(client, page_path(cs))
    code = page.scripts[-1][1]
    assert 'type:"lava_checkout_cancel",checkoutSessionId:d.checkoutSessionId' in code
    assert "submit()" not in code
    assert "fetch(" not in code
    assert json.loads(page.ids["lava-checkout"])["targetOrigin"] == ORIGIN


async def test_a_submit_that_waited_for_its_body_sees_the_other_submit(client: Client) -> None:
    """Two submits of one form whose bodies arrive slowly: both handlers find the session open,
    wait for their body, then complete in turn. The second answers like the first, because the
    session is read again once the body is in (nothing awaits from there to the answer)."""
    _, plan = await catalog(client)
    cs = await session(client, plan["plan_id"])
    path = page_path(cs)
    body = urlencode({**await _form(client, path), "phone": "+15555550100"}).encode()
    host, port = client.server.host, client.server.port
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    conns = [await asyncio.open_connection(host, port) for _ in range(2)]
    for _, writer in conns:          # both heads and half of each body: both handlers wait
        writer.write(head + body[:10])
        await writer.drain()
    await asyncio.sleep(0.2)
    answers = []
    for reader, writer in conns:     # then one body after the other
        writer.write(body[10:])
        await writer.drain()
        answers.append((await reader.read()).decode())
        writer.close()
    for answer in answers:
        assert answer.startswith("HTTP/1.1 200"), answer[:400]
    customers = {read(a.split("\r\n\r\n", 1)[1]).data()["customerId"] for a in answers}
    assert len(customers) == 1
    assert len((await call(client, "GET", "/subscriptions", status="all"))["data"]) == 1
