"""A merchant's credentials and endpoints: secret keys (stored as sha256, shown in full once) and
webhooks (at most three, secret shown once), lava-api.md 1.3 and 5."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from urllib.parse import urlsplit

from ...secret import Secret
from ..store import Store
from .codec import Table
from .ids import new_id
from .records import Invalid, SecretKeyRow, Webhook
from .scope import Scope, need

MAX_WEBHOOKS = 3
#: Lava documents the 3 webhooks; the key bound is the local gateway's own, set wide.
MAX_SECRET_KEYS = 100


def key_hash(secret_key: str) -> str:
    return hashlib.sha256(secret_key.encode()).hexdigest()


def keys_table(store: Store) -> Table[SecretKeyRow]:
    """Global, keyed by the key's hash: ``merchant_for`` is one lookup."""
    return Table(store, "secret_key", SecretKeyRow, lambda r: r.key_hash)


def hint(secret_key: Secret) -> str:
    raw = secret_key.reveal()
    return f"{secret_key.hint()[:-1]}…{raw[-4:]}" if len(raw) > 16 else secret_key.hint()


def register_key(store: Store, merchant_id: str, secret_key: Secret, name: str,
                 now: float) -> SecretKeyRow:
    return keys_table(store).put(SecretKeyRow(
        new_id("sk", now), merchant_id, name, key_hash(secret_key.reveal()), hint(secret_key), now))


def merchant_keys(store: Store, merchant_id: str) -> list[SecretKeyRow]:
    return [k for k in keys_table(store).scan() if k.merchant_id == merchant_id]


def create_key(store: Store, merchant_id: str, name: str, now: float,
               *, live: bool = False) -> tuple[SecretKeyRow, Secret]:
    if len(merchant_keys(store, merchant_id)) >= MAX_SECRET_KEYS:
        raise Invalid(f"at most {MAX_SECRET_KEYS} secret keys per merchant",
                      code="secret_key_limit_reached")
    raw = Secret(f"aks_{'live' if live else 'test'}_{secrets.token_urlsafe(24)}")
    return register_key(store, merchant_id, raw, name, now), raw


def delete_key(store: Store, merchant_id: str, secret_key_id: str, *, in_use: str) -> None:
    """Refuses to delete the key the call itself was made with (``in_use`` is its hash)."""
    mine = merchant_keys(store, merchant_id)
    row = need(next((k for k in mine if k.secret_key_id == secret_key_id), None), "secret key",
               secret_key_id)
    if row.key_hash == in_use:
        raise Invalid("a secret key cannot delete itself: use another key",
                      code="secret_key_in_use")
    keys_table(store).delete(row.key_hash)


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2048:
        raise Invalid("url must be an http(s) URL of at most 2048 characters",
                      code="invalid_webhook_url")
    return url


def create_webhook(scope: Scope, *, name: str, url: str) -> Webhook:
    if scope.webhooks.count() >= MAX_WEBHOOKS:
        raise Invalid(f"at most {MAX_WEBHOOKS} webhooks per merchant",
                      code="webhook_limit_reached")
    now = scope.now()
    return scope.webhooks.put(Webhook(new_id("wh", now), name, _check_url(url),
                                      f"whsec_{secrets.token_hex(24)}", now))


def update_webhook(scope: Scope, webhook_id: str, *, name: str | None = None,
                   url: str | None = None) -> Webhook:
    w = need(scope.webhooks.get(webhook_id), "webhook", webhook_id)
    if name is not None:
        w = dataclasses.replace(w, name=name)
    if url is not None:
        w = dataclasses.replace(w, url=_check_url(url))
    return scope.webhooks.put(w)


def delete_webhook(scope: Scope, webhook_id: str) -> None:
    need(scope.webhooks.get(webhook_id), "webhook", webhook_id)
    scope.webhooks.delete(webhook_id)
