"""Helpers for the web page tests: the local Lava's REST API and pages over one ``World`` on a
real loopback server, and a small HTML reader (stdlib ``html.parser``) for what a page holds."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from proxy.emulator.rest import create_app
from proxy.emulator.web import mount

from ..accounts_setup import SECRET, World

Client = TestClient[Any, Any]
AUTH = {"Authorization": f"Bearer {SECRET}"}
HOSTILE = '<script>alert("x")</script>&"\'<img src=x onerror=alert(1)>'


def pages_app(w: World) -> web.Application:
    app = create_app(w.accounts)
    mount(w.accounts, w.merchant_id)(app)
    return app


async def call(api: Client, method: str, path: str, body: object = None, expect: int = 200,
               **params: str) -> Any:
    resp = await api.request(method, f"/v1{path}", json=body, headers=AUTH, params=params)
    doc = await resp.json()
    assert resp.status == expect, doc
    return doc


async def catalog(api: Client, *, plan_name: str = "Pro", meter_name: str = "Chat tokens",
                  bundle_name: str = "Top-up") -> tuple[Any, Any]:
    m = await call(api, "POST", "/meters", {
        "name": meter_name, "rate_type": "fixed", "tier_type": "tokens_1m",
        "tiers": [{"start": "0", "rate": "3.00"}]})
    p = await call(api, "POST", "/plans", {
        "name": plan_name, "period_amount": "20", "billing_interval": "month",
        "meter_ids": [m["meter_id"]],
        "credit_bundles": [{"name": bundle_name, "cost": "5", "credit_amount": "7.5"}]})
    return m, p


async def session(api: Client, plan_id: str | None = None, *, origin: str = "http://127.0.0.1:3000",
                  customer_id: str | None = None, bundle_id: str | None = None) -> Any:
    body: dict[str, Any] = {"origin_url": origin}
    if bundle_id is None:
        body |= {"checkout_mode": "subscription", "plan_id": plan_id}
        if customer_id:
            body["customer_id"] = customer_id
    else:
        body |= {"checkout_mode": "credit_bundle", "customer_id": customer_id,
                 "credit_bundle_id": bundle_id}
    return await call(api, "POST", "/checkout_sessions", body)


def page_path(cs: Any) -> str:
    """The path ``@lavapayments/checkout`` opens: ``{base}embed/checkout/{secret}``."""
    doc = json.loads(base64.b64decode(cs["checkout_session_token"]))
    return "/embed/checkout/" + doc["secret"]


@dataclass
class Page:
    html: str
    ids: dict[str, str] = field(default_factory=dict)          # element id → its text
    inputs: dict[str, str] = field(default_factory=dict)       # input name → value
    scripts: list[tuple[dict[str, str | None], str]] = field(default_factory=list)
    attrs: dict[str, dict[str, str | None]] = field(default_factory=dict)  # id → attributes

    def data(self) -> Any:
        """The JSON the page's script reads (``#lava-checkout``)."""
        return json.loads(self.ids["lava-checkout"])

    def field_error(self, name: str) -> str | None:
        return self.ids.get(f"{name}-error")


class _Reader(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.open: list[tuple[str, str | None, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.page.inputs[str(a["name"])] = a.get("value") or ""
        if a.get("id"):
            self.page.attrs[str(a["id"])] = a
        if tag not in ("input", "meta", "br", "img", "rect", "line"):
            self.open.append((tag, a.get("id"), []))
            if tag == "script":
                self.page.scripts.append((a, ""))

    def handle_data(self, data: str) -> None:
        for _, _, texts in self.open:
            texts.append(data)

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            name, ident, texts = self.open.pop()
            if ident:
                self.page.ids[ident] = "".join(texts)
            if name == "script":
                attrs, _ = self.page.scripts[-1]
                self.page.scripts[-1] = (attrs, "".join(texts))
            if name == tag:
                break


def read(html: str) -> Page:
    page = Page(html)
    _Reader(page).feed(html)
    return page


async def get_page(client: Client, path: str, expect: int = 200, **kw: Any) -> tuple[Page, Any]:
    resp = await client.get(path, **kw)
    text = await resp.text()
    assert resp.status == expect, text[-2000:]
    assert resp.content_type == "text/html"
    return read(text), resp


async def post_form(client: Client, path: str, form: dict[str, str], expect: int = 200,
                    **headers: str) -> tuple[Page, Any]:
    resp = await client.post(path, data=form, headers=headers)
    text = await resp.text()
    assert resp.status == expect, text[-2000:]
    return read(text), resp


def nonce_of(resp: Any) -> str:
    found = re.search(r"script-src 'nonce-([^']+)'", resp.headers["Content-Security-Policy"])
    assert found, resp.headers["Content-Security-Policy"]
    return found.group(1)
