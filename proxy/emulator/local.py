"""The full local Lava: the forward path wired to the real accounts (``LocalAccounts`` on memory
or SQLite, webhooks, the management REST API) and its web pages (the hosted checkout page, the
merchant's dashboard). What ``dev-gateway`` and the demo run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from ..secret import Secret
from .state import GatewayOptions, GatewayState

if TYPE_CHECKING:
    from .accounts import LocalAccounts


@dataclass(frozen=True, slots=True)
class LocalGateway:
    state: GatewayState
    #: Pass to ``create_gateway_app(state, extra_routes=…)`` / ``running_gateway``.
    extra_routes: Callable[[web.Application], None]
    #: The merchant state behind both, and the merchant ``secret_key`` is for (``--seed``).
    accounts: LocalAccounts
    merchant_id: str


def local_gateway(secret_key: Secret, options: GatewayOptions | None = None) -> LocalGateway:
    """Accounts on ``options.db_path`` (SQLite) or in memory, ``secret_key`` registered as the
    merchant's key; the store is closed with the app."""
    from .accounts import LocalAccounts
    from .rest import mount
    from .store import open_store
    from .web import mount as mount_web
    from .webhooks import WebhookDispatcher

    options = options or GatewayOptions()
    store = open_store(str(options.db_path) if options.db_path else None)
    dispatcher = WebhookDispatcher()
    accounts = LocalAccounts(store, deliver=dispatcher.submit)
    merchant_id = accounts.add_secret_key(secret_key)
    state = GatewayState(secret_key, accounts, options)
    rest = mount(accounts, dispatcher=dispatcher)
    pages = mount_web(accounts, merchant_id)

    async def close_store(app: web.Application) -> AsyncIterator[None]:
        yield
        store.close()

    def extra_routes(app: web.Application) -> None:
        rest(app)
        pages(app)
        app.cleanup_ctx.append(close_store)

    return LocalGateway(state, extra_routes, accounts, merchant_id)
