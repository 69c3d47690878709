"""``create_gateway_app``: the local Lava's aiohttp application — ``/v1/forward`` (any method),
``/healthz``, ``x-lava-request-id`` on every response, JSON errors; the accounts side adds its
management REST routes through ``extra_routes``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from .forward import REQUEST_ID, STATE, forward, refusal
from .ids import request_id
from .state import GatewayState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[REQUEST_ID] = request_id()
    try:
        return await handler(request)
    except web.HTTPException as exc:
        # aiohttp's own plain-text refusals (no route, wrong method, body too large) in Lava's
        # JSON error shape; errors a handler rendered itself pass through.
        if exc.status in (404, 405, 413) and exc.content_type == "text/plain":
            return refusal(exc.status, exc.reason.lower().replace(" ", "_"),
                           f"{exc.reason}: {request.method} {request.path[:200]}")
        raise


async def _stamp(request: web.Request, response: web.StreamResponse) -> None:
    rid = request.get(REQUEST_ID)
    if isinstance(rid, str):
        response.headers["x-lava-request-id"] = rid


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_gateway_app(state: GatewayState, *,
                       extra_routes: Callable[[web.Application], None] | None = None
                       ) -> web.Application:
    """The gateway app for ``state``. ``extra_routes(app)`` may add routes, middlewares and
    ``cleanup_ctx`` entries of its own (the management REST API does)."""
    app = web.Application(client_max_size=state.options.max_body_bytes,
                          middlewares=[_request_ids])
    app[STATE] = state
    app.on_response_prepare.append(_stamp)
    app.router.add_route("*", "/v1/forward", forward)
    # The OpenAI SDK turns a base URL ".../forward?u=…/" into ".../forward/?u=…": accept both.
    app.router.add_route("*", "/v1/forward/", forward)
    app.router.add_get("/healthz", _healthz)
    if state.options.passthrough:
        app.cleanup_ctx.append(_client_session)
    if extra_routes is not None:
        extra_routes(app)
    return app


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    # No decompression: passthrough relays the upstream's bytes as they are.
    timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=300)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        state.session = session
        yield
        state.session = None
