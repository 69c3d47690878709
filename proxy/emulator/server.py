"""Running the gateway on a loopback port: ``running_gateway`` for tests and embedding (demo), and
the handle it yields (``url``, ``seen``, ``state``, helpers to build forward URLs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from ..secret import Secret
from .app import create_gateway_app
from .contracts import Accounts
from .local import local_gateway
from .state import GatewayOptions, GatewayState, Seen


@dataclass(frozen=True, slots=True)
class RunningGateway:
    url: str                    # http://127.0.0.1:<port>, no trailing slash
    state: GatewayState
    app: web.Application

    @property
    def seen(self) -> list[Seen]:
        """Every request that reached ``/v1/forward``, oldest first."""
        return list(self.state.seen)

    @property
    def last(self) -> Seen:
        return self.state.seen[-1]

    def forward_url(self, provider_url: str) -> str:
        """The documented form: ``/v1/forward?u=<percent-encoded provider URL>``."""
        return f"{self.url}/v1/forward?u={quote(provider_url, safe='')}"

    def sdk_base_url(self, provider_root: str) -> str:
        """A base URL an SDK can append its paths to (the unencoded ``u`` trick of lava-api.md 3.1):
        ``sdk_base_url("https://api.openai.com/v1")`` for the OpenAI SDK,
        ``sdk_base_url("https://api.anthropic.com")`` for Anthropic's. The trailing slash matters:
        the OpenAI SDK joins its path to the base URL's text."""
        return f"{self.url}/v1/forward?u={provider_root.rstrip('/')}/"


@asynccontextmanager
async def running_gateway(secret_key: str | Secret, *, accounts: Accounts | None = None,
                          extra_routes: Callable[[web.Application], None] | None = None,
                          host: str = "127.0.0.1", port: int = 0,
                          **options: Any) -> AsyncIterator[RunningGateway]:
    """Serve a gateway on ``host:port`` (an ephemeral loopback port by default) for the duration of
    the block. ``options`` are ``GatewayOptions`` fields; ``accounts`` defaults to
    ``PermissiveAccounts`` (everyone admitted, nothing charged)."""
    key = secret_key if isinstance(secret_key, Secret) else Secret(secret_key)
    state = GatewayState(key, accounts, GatewayOptions(**options))
    async with serving(state, extra_routes, host, port) as gw:
        yield gw


@asynccontextmanager
async def running_local_gateway(secret_key: str | Secret, *, host: str = "127.0.0.1",
                                port: int = 0, **options: Any) -> AsyncIterator[RunningGateway]:
    """The full local Lava (``local.local_gateway``: real accounts, management REST API) served
    like ``running_gateway``."""
    key = secret_key if isinstance(secret_key, Secret) else Secret(secret_key)
    local = local_gateway(key, GatewayOptions(**options))
    async with serving(local.state, local.extra_routes, host, port) as gw:
        yield gw


@asynccontextmanager
async def serving(state: GatewayState, extra_routes: Callable[[web.Application], None] | None,
                  host: str, port: int) -> AsyncIterator[RunningGateway]:
    app = create_gateway_app(state, extra_routes=extra_routes)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound = runner.addresses[0]
        yield RunningGateway(f"http://{bound[0]}:{bound[1]}", state, app)
    finally:
        await runner.cleanup()
