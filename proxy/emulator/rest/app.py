"""The local Lava's management REST API (``/v1/meters``, ``/v1/plans``, … lava-api.md 1.3): the
shared shell. Every route authenticates ``Authorization: Bearer <aks_ key>``, reads a bounded JSON
body, calls one sync accounts operation and answers JSON; errors are
``{"error": {"message", "code"}}`` with 400/401/404. Resources live in this package's other modules.

Attach with ``add_routes(app, accounts)``; nothing else on the app is touched (no middleware).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..accounts import AccountsError, Invalid, LocalAccounts, Page, Unauthorized, key_hash
from ..store import Json
from ..webhooks import WebhookDispatcher
from . import admin, catalog, customers, models, reports
from .context import Ctx, Handler, Route
from .input import parse_body

log = logging.getLogger("lava_sidecar.emulator.rest")

#: Management bodies are small JSON objects; anything bigger is a mistake.
MAX_BODY = 256 * 1024


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "code": code}}, status=status)


def render(result: object) -> object:
    if isinstance(result, Page):
        return {"data": result.items, "has_more": result.has_more,
                "next_cursor": result.next_cursor}
    return result


def _bearer(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("Missing secret key: send Authorization: Bearer aks_...",
                           code="missing_api_key")
    return value.strip()


async def _read_body(request: web.Request) -> dict[str, Json]:
    if request.method in ("GET", "DELETE", "HEAD"):
        return {}
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Invalid(f"request body over {MAX_BODY} bytes", code="request_too_large")
    raw = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        raw += chunk
        if len(raw) > MAX_BODY:
            raise Invalid(f"request body over {MAX_BODY} bytes", code="request_too_large")
    return parse_body(bytes(raw))


def endpoint(accounts: LocalAccounts,
             handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve(request: web.Request) -> web.StreamResponse:
        try:
            bearer = _bearer(request)
            merchant_id = accounts.merchant_for(bearer)
            if merchant_id is None:
                raise Unauthorized("Invalid secret key", code="invalid_api_key")
            body = await _read_body(request)
            ctx = Ctx(accounts, accounts.scope(merchant_id), key_hash(bearer), request.query,
                      body, request.match_info, f"{request.scheme}://{request.host}/")
            # No await from here to the flush: the operation and its events are one step.
            try:
                result = handler(ctx)
            except BaseException:
                accounts.discard_events()
                raise
            accounts.flush_events()
        except AccountsError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except Exception:
            # A bug, not a refusal: logged with its traceback, answered in the API's error shape.
            log.exception("management API %s %s failed", request.method, request.path)
            return error_response(500, "internal_error", "The local Lava failed on this call")
        return web.json_response(render(result), dumps=_dumps)

    return serve


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def routes(accounts: LocalAccounts) -> list[web.RouteDef]:
    table: list[Route] = [*catalog.ROUTES, *customers.ROUTES, *reports.ROUTES, *admin.ROUTES,
                         *models.ROUTES]
    return [web.route(method, f"/v1{path}", endpoint(accounts, handler))
            for method, path, handler in table]


def add_routes(app: web.Application, accounts: LocalAccounts) -> None:
    """Register every management route on ``app`` (which may also serve ``/v1/forward``)."""
    app.router.add_routes(routes(accounts))


def mount(accounts: LocalAccounts, *, dispatcher: WebhookDispatcher | None = None
          ) -> Callable[[web.Application], None]:
    """What ``create_gateway_app(state, extra_routes=…)`` takes: adds the management routes and,
    when given, runs the webhook dispatcher for the app's lifetime."""
    def extra_routes(app: web.Application) -> None:
        add_routes(app, accounts)
        if dispatcher is not None:
            app.cleanup_ctx.append(dispatcher.cleanup_ctx)
    return extra_routes


def create_app(accounts: LocalAccounts, *,
               dispatcher: WebhookDispatcher | None = None) -> web.Application:
    """A management-only app (tests, or a REST server apart from the gateway)."""
    app = web.Application(client_max_size=MAX_BODY)
    mount(accounts, dispatcher=dispatcher)(app)
    return app
