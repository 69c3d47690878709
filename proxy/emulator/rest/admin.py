"""REST resources for a merchant's plumbing: ``/webhooks`` (secret returned once, at most three)
and ``/secret_keys`` (full key returned once, then only a hint)."""

from __future__ import annotations

from ..accounts import Invalid, admin, merchant_keys, need, page, views
from .context import Ctx, Route
from .input import limit, need_text, text


def list_webhooks(ctx: Ctx) -> object:
    return page(ctx.scope.webhooks.scan(), limit(ctx.query), lambda w: w.webhook_id,
                views.webhook)


def create_webhook(ctx: Ctx) -> object:
    w = admin.create_webhook(ctx.scope, name=text(ctx.body, "name") or "webhook",
                             url=need_text(ctx.body, "url", max_len=2048))
    return {**views.webhook(w), "webhook_secret": w.secret}


def get_webhook(ctx: Ctx) -> object:
    wid = ctx.param("id")
    return views.webhook(need(ctx.scope.webhooks.get(wid), "webhook", wid))


def update_webhook(ctx: Ctx) -> object:
    w = admin.update_webhook(ctx.scope, ctx.param("id"), name=text(ctx.body, "name"),
                             url=text(ctx.body, "url", max_len=2048))
    return views.webhook(w)


def delete_webhook(ctx: Ctx) -> object:
    admin.delete_webhook(ctx.scope, ctx.param("id"))
    return {"id": ctx.param("id"), "deleted": True}  # the Node SDK's DeletedResponse


def list_keys(ctx: Ctx) -> object:
    keys = merchant_keys(ctx.accounts.store, ctx.scope.merchant_id)
    cursor = ctx.query.get("cursor")
    if cursor is not None:
        at = next((i for i, k in enumerate(keys) if k.secret_key_id == cursor), None)
        if at is None:
            raise Invalid("cursor does not name an item of this list", code="invalid_cursor")
        keys = keys[at + 1:]
    return page(keys, limit(ctx.query), lambda k: k.secret_key_id, views.secret_key)


def create_key(ctx: Ctx) -> object:
    row, raw = admin.create_key(ctx.accounts.store, ctx.scope.merchant_id,
                                text(ctx.body, "name") or "secret key", ctx.scope.now())
    return {**views.secret_key(row), "secret_key": raw.reveal()}


def delete_key(ctx: Ctx) -> object:
    admin.delete_key(ctx.accounts.store, ctx.scope.merchant_id, ctx.param("id"),
                     in_use=ctx.key_hash)
    return {"id": ctx.param("id"), "deleted": True}  # the Node SDK's DeletedResponse


ROUTES: tuple[Route, ...] = (
    ("GET", "/webhooks", list_webhooks), ("POST", "/webhooks", create_webhook),
    ("GET", "/webhooks/{id}", get_webhook), ("PATCH", "/webhooks/{id}", update_webhook),
    ("DELETE", "/webhooks/{id}", delete_webhook),
    ("GET", "/secret_keys", list_keys), ("POST", "/secret_keys", create_key),
    ("DELETE", "/secret_keys/{id}", delete_key),
)
