"""The merchant example's backend (aiohttp): what a site selling an AI feature through Lava runs.

- ``POST /api/checkout``: creates a Lava checkout session for the plan (``proxy.billing``, the
  project's Python client for Lava's REST API) and hands its token to the page, which opens
  Lava's checkout with ``@lavapayments/checkout``.
- ``POST /api/confirm``: after ``onSuccess``, asks Lava over REST whether that checkout session
  is complete and for which customer. The browser's message is a hint, never proof: the package
  accepts ``postMessage`` from any origin, so anything on the page could claim a success.
- ``POST /api/prompt``: sends the confirmed customer's prompt through the sidecar (the OpenAI
  SDK pointed at it, with ``X-Lava-Customer-Id``), then reads what Lava billed that customer.
- ``POST /api/topup``: a credit-bundle checkout for the confirmed customer.

Which customer a browser is lives on the server (``sessions``), keyed by an HttpOnly cookie.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
from aiohttp import web

from proxy.billing import AsyncLavaClient, LavaError, UsageTotals
from proxy.secret import Secret

from .sessions import COOKIE, Browser, Sessions

log = logging.getLogger("lava_sidecar.examples.merchant")

MAX_PROMPT = 2000
#: Lava records a request once its response is fully served: a moment after the reply.
SETTLE_WAIT = 5.0


@dataclass(frozen=True, slots=True)
class MerchantConfig:
    lava_url: str             # Lava's REST base (the local Lava: http://127.0.0.1:8788)
    secret_key: Secret        # the merchant's aks_ key: stays on this server
    sidecar_url: str          # the sidecar's proxy listener
    plan_id: str
    meter_slug: str
    bundle_id: str | None
    public_dir: Path
    model: str = "gpt-4o-mini"


@dataclass(slots=True)
class Clients:
    lava: AsyncLavaClient
    ai: openai.AsyncOpenAI


CONFIG = web.AppKey("config", MerchantConfig)
SESSIONS = web.AppKey("sessions", Sessions)
CLIENTS = web.AppKey("clients", Clients)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[web.Request], Awaitable[dict[str, Any]]]


def api(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """JSON in and out, errors as ``{"error": sentence}``; the page's own origin only."""
    async def serve(request: web.Request) -> web.Response:
        sent = request.headers.get("Origin")
        if sent is not None and sent != f"{request.scheme}://{request.host}":
            return web.json_response({"error": "cross-origin calls are refused"}, status=403)
        try:
            return web.json_response(await handler(request))
        except ApiError as exc:
            return web.json_response({"error": exc.message}, status=exc.status)
        except LavaError as exc:
            log.warning("Lava refused: %s", exc)
            return web.json_response({"error": f"Lava refused the call: {exc}"}, status=502)
    return serve


async def body_of(request: web.Request) -> dict[str, Any]:
    if request.method != "POST" or not request.can_read_body:
        return {}
    try:
        doc = await request.json()
    except ValueError as exc:
        raise ApiError(400, "send a JSON object") from exc
    if not isinstance(doc, dict):
        raise ApiError(400, "send a JSON object")
    return doc


def browser_of(request: web.Request) -> Browser:
    browser = request.app[SESSIONS].get(request.cookies.get(COOKIE))
    if browser is None:
        raise ApiError(401, "no session: reload the page")
    return browser


def customer_of(request: web.Request) -> str:
    customer_id = browser_of(request).customer_id
    if customer_id is None:
        raise ApiError(401, "subscribe first: no confirmed Lava customer for this browser")
    return customer_id


async def config(request: web.Request) -> dict[str, Any]:
    cfg, lava = request.app[CONFIG], request.app[CLIENTS].lava
    plan = await lava.plans.get(cfg.plan_id)
    bundle = next((b for b in plan.credit_bundles if b.credit_bundle_id == cfg.bundle_id), None)
    return {"plan": {"name": plan.name, "price": str(plan.period_amount),
                     "interval": plan.billing_interval,
                     "included_credit": str(plan.included_credit)},
            "bundle": None if bundle is None else {
                "name": bundle.name, "cost": str(bundle.cost),
                "credit": str(bundle.credit_amount)},
            "customer": await me(request)}


async def me(request: web.Request) -> dict[str, Any] | None:
    browser = request.app[SESSIONS].get(request.cookies.get(COOKIE))
    if browser is None or browser.customer_id is None:
        return None
    return await account(request.app[CLIENTS].lava, browser.customer_id)


async def account(lava: AsyncLavaClient, customer_id: str) -> dict[str, Any]:
    sub = await lava.customers.subscription(customer_id)
    return {"customer_id": customer_id,
            "plan": None if sub is None else sub.plan_name,
            "credits": None if sub is None else str(sub.credits.total_remaining)}


async def checkout(request: web.Request) -> dict[str, Any]:
    cfg, lava = request.app[CONFIG], request.app[CLIENTS].lava
    browser = browser_of(request)
    # origin_url is this page's origin: Lava's page lets only it frame the checkout and
    # answers only it.
    session = await lava.checkout_sessions.create(
        checkout_mode="subscription", plan_id=cfg.plan_id,
        origin_url=f"{request.scheme}://{request.host}")
    browser.started(session.checkout_session_id)
    return {"checkout_session_token": session.checkout_session_token}


async def topup(request: web.Request) -> dict[str, Any]:
    cfg, lava = request.app[CONFIG], request.app[CLIENTS].lava
    customer_id = customer_of(request)
    if cfg.bundle_id is None:
        raise ApiError(404, "this plan has no credit bundle to buy")
    session = await lava.checkout_sessions.create(
        checkout_mode="credit_bundle", customer_id=customer_id, credit_bundle_id=cfg.bundle_id,
        origin_url=f"{request.scheme}://{request.host}")
    browser_of(request).started(session.checkout_session_id)
    return {"checkout_session_token": session.checkout_session_token}


async def confirm(request: web.Request) -> dict[str, Any]:
    """The browser says a checkout succeeded; believe Lava, not the browser."""
    cfg, lava = request.app[CONFIG], request.app[CLIENTS].lava
    browser = browser_of(request)
    cs_id = (await body_of(request)).get("checkout_session_id")
    if not isinstance(cs_id, str) or cs_id not in browser.pending:
        raise ApiError(403, "not a checkout this page started")
    session = await lava.checkout_sessions.get(cs_id)
    if session.completed_at is None or session.customer_id is None:
        raise ApiError(409, "Lava has not completed this checkout")
    if session.checkout_mode == "subscription":
        sub = await lava.customers.subscription(session.customer_id)
        if sub is None or sub.plan_id != cfg.plan_id or sub.status != "active":
            raise ApiError(409, "Lava shows no active subscription to this plan for the customer")
    elif session.customer_id != browser.customer_id:
        raise ApiError(409, "this top-up was paid by another customer")
    browser.pending.remove(cs_id)
    browser.customer_id = session.customer_id
    return {**await account(lava, session.customer_id), "checkout_session_id": cs_id,
            "checkout_mode": session.checkout_mode}


async def usage_today(lava: AsyncLavaClient, customer_id: str) -> UsageTotals:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (await lava.usage.get(start=today, customer_id=customer_id)).totals


async def prompt(request: web.Request) -> dict[str, Any]:
    cfg, clients = request.app[CONFIG], request.app[CLIENTS]
    customer_id = customer_of(request)
    text = (await body_of(request)).get("prompt")
    if not isinstance(text, str) or not 0 < len(text.strip()) <= MAX_PROMPT:
        raise ApiError(400, f"send a prompt of 1 to {MAX_PROMPT} characters")
    before = await usage_today(clients.lava, customer_id)
    try:
        # Through the sidecar: it mints this customer's forward token and meters the call.
        answer = await clients.ai.chat.completions.create(
            model=cfg.model, messages=[{"role": "user", "content": text.strip()}],
            extra_headers={"X-Lava-Customer-Id": customer_id, "X-Lava-Meter": cfg.meter_slug})
    except openai.APIStatusError as exc:
        raise ApiError(exc.status_code if exc.status_code < 500 else 502,
                       f"the sidecar answered {exc.status_code}: {exc.message}") from exc
    after = before
    deadline = asyncio.get_running_loop().time() + SETTLE_WAIT
    while after.total_requests <= before.total_requests and (
            asyncio.get_running_loop().time() < deadline):
        await asyncio.sleep(0.05)
        after = await usage_today(clients.lava, customer_id)
    used = answer.usage
    return {
        "reply": answer.choices[0].message.content,
        "usage": None if used is None else {
            "prompt_tokens": used.prompt_tokens, "completion_tokens": used.completion_tokens,
            "total_tokens": used.total_tokens},
        "lava": {"total_requests": after.total_requests,
                 "total_usage_tokens": after.total_usage_tokens,
                 "total_charge": str(after.total_charge)},
        **await account(clients.lava, customer_id),
    }


async def index(request: web.Request) -> web.StreamResponse:
    """The page, with a session cookie; its CSP lets it frame only Lava's checkout."""
    cfg = request.app[CONFIG]
    html = (cfg.public_dir / "index.html").read_text(encoding="utf-8")
    response = web.Response(text=html, content_type="text/html", headers={
        "Content-Security-Policy": (f"default-src 'self'; frame-src {origin(cfg.lava_url)}; "
                                    "object-src 'none'; base-uri 'none'"),
        "Cache-Control": "no-store"})
    if request.app[SESSIONS].get(request.cookies.get(COOKIE)) is None:
        session_id, _ = request.app[SESSIONS].new()
        response.set_cookie(COOKIE, session_id, httponly=True, samesite="Strict", path="/")
    return response


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = request.app[CONFIG].public_dir / name
    if name not in ("bundle.js", "style.css") or not path.is_file():
        raise web.HTTPNotFound(text=f"{name} is not built: npm ci --prefix examples/merchant && "
                                    "npm run --prefix examples/merchant build")
    return web.FileResponse(path, headers={"Cache-Control": "no-store"})


async def _clients(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]
    async with AsyncLavaClient(base_url=cfg.lava_url, secret_key=cfg.secret_key) as lava, \
            openai.AsyncOpenAI(base_url=cfg.sidecar_url + "/v1", api_key="placeholder",
                               max_retries=0) as ai:
        # The sidecar holds the merchant's key; the app's OpenAI key is a placeholder.
        app[CLIENTS] = Clients(lava, ai)
        yield


async def _no_content() -> web.Response:
    return web.Response(status=204)


def create_app(cfg: MerchantConfig) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[CONFIG] = cfg
    app[SESSIONS] = Sessions()
    app.cleanup_ctx.append(_clients)
    app.router.add_get("/", index)
    app.router.add_get("/{name:(bundle\\.js|style\\.css)}", asset)
    app.router.add_get("/favicon.ico", lambda _: _no_content())
    app.router.add_get("/api/config", api(config))
    for path, handler in (("/api/checkout", checkout), ("/api/topup", topup),
                          ("/api/confirm", confirm), ("/api/prompt", prompt)):
        app.router.add_post(path, api(handler))
    return app
