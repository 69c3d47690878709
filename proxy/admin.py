"""The admin listener's app: ``/metrics``, ``/healthz``, ``/readyz`` and ``/usage``.

Independent of the proxy app: it is handed the registry, the totals and a readiness flag, and
serves them. Rendering ``/metrics`` runs in a thread so a large scrape never stalls proxied
streams sharing the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from .identity import CUSTOMER_ID_RE
from .metering import Totals


class ReadinessFlag(Protocol):
    """Anything with a ``ready`` property (``runtime.Readiness``)."""

    @property
    def ready(self) -> bool: ...


def create_admin_app(registry: CollectorRegistry, totals: Totals,
                     readiness: ReadinessFlag) -> web.Application:
    """The admin app. Serve it on ``settings.admin_listen``, apart from the proxy listener."""

    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = await asyncio.to_thread(encoder, registry)
        resp = web.Response(body=body, headers={"Content-Type": content_type})
        resp.enable_compression()  # only when the scraper sent Accept-Encoding
        return resp

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        if readiness.ready:
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready\n")

    async def usage(request: web.Request) -> web.Response:
        customer = request.query.get("customer")
        # Empty selects the merchant-billed requests (customer ""), which is a real bucket.
        if customer and not CUSTOMER_ID_RE.match(customer):
            return web.json_response(
                {"error": {"code": "customer_id_invalid",
                           "message": "customer must be 1-128 of A-Z a-z 0-9 . _ : -"}},
                status=400)
        return web.json_response(totals.snapshot(customer),
                                 headers={"Cache-Control": "no-store"})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/usage", usage)
    return app
