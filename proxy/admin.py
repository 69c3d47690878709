"""The admin listener's app: ``/metrics``, ``/healthz``, ``/readyz`` and ``/usage``.

Independent of the proxy app: it is handed the registry, the totals and a readiness flag, and
serves them. ``/metrics`` is rendered at most once a second per representation and shared by the
scrapes that ask meanwhile (``metrics.exposition``): a scrape flood costs the proxy one render a
second. ``/usage`` answers a page of customers at a time (``metering.usagepage``), its per-meter
totals derived in slices that yield to the loop and shared the same way (``metering.meterview``):
this listener shares the event loop with the proxy, so no answer is built in one long step.
Every refusal is JSON (``{"error": {"code", "message"}}``): the app's own (bad customer id, limit
or cursor, unknown path, wrong method) here, those aiohttp's server makes before any handler runs
in ``adminserver``, which serves this app.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import gzip_accepted

from .adminserver import error_response
from .errors import MethodNotAllowed, RouteNotFound, UsageQueryInvalid
from .metering import MeterViews, Totals, parse_query, usage_body
from .metrics.exposition import ExpositionCache


class ReadinessFlag(Protocol):
    """Anything with a ``ready`` property and the reason it is not (``runtime.Readiness``)."""

    @property
    def ready(self) -> bool: ...

    def reason(self) -> str | None: ...


def create_admin_app(registry: CollectorRegistry, totals: Totals,
                     readiness: ReadinessFlag) -> web.Application:
    """The admin app. Serve it on ``settings.admin_listen``, apart from the proxy listener, with
    ``adminserver.AdminRunner``."""
    exposition = ExpositionCache(registry)
    views = MeterViews(totals)

    async def metrics(request: web.Request) -> web.Response:
        exp = await exposition.get(request.headers.get("Accept", ""),
                                   gzipped=gzip_accepted(request.headers.get("Accept-Encoding", "")))
        headers = {"Content-Type": exp.content_type, "Vary": "Accept, Accept-Encoding"}
        if exp.gzipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=exp.body, headers=headers)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        why = readiness.reason()
        if why is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {why}\n")

    async def usage(request: web.Request) -> web.Response:
        try:
            query = parse_query(request.query, totals.run)
        except UsageQueryInvalid as exc:
            return error_response(exc)
        return web.Response(body=await usage_body(totals, views, query),
                            content_type="application/json", headers={"Cache-Control": "no-store"})

    app = web.Application(middlewares=[_json_refusals])
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/usage", usage)
    return app


@web.middleware
async def _json_refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The router's 404 and 405 as JSON, like every other admin refusal (and without the path)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_response(RouteNotFound(_ROUTES))
        if exc.status == 405:
            return error_response(MethodNotAllowed("The admin listener answers GET (and HEAD) only."),
                                  Allow=exc.headers.get("Allow", "GET,HEAD"))
        raise


_ROUTES = ("The admin listener serves /metrics, /healthz, /readyz and /usage (?limit=N&cursor=C "
           "for the next page, ?customer=ID for one customer).")
