"""Lava forward tokens: mint them (current format) and read them back (every known format).

A forward token is standard base64 of a JSON object that embeds the merchant secret key; it is a
secret. Format and field meanings: ../shared/reference/lava-api.md section 2.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from .secret import Secret


@dataclass(frozen=True, slots=True)
class Billing:
    """Who pays for one request. ``customer_id=None`` bills the merchant (meter-only or gateway mode)."""

    customer_id: str | None
    meter_slug: str | None
    provider_key: Secret | None = None
    disable_billing: bool = False


def mint(secret_key: Secret, billing: Billing) -> str:
    """Mint a current-format forward token.

    Keys that are unset are left out, as the Node SDK's ``JSON.stringify`` does; compact JSON so
    tokens are short and stable for a cache.
    """
    doc: dict[str, object] = {"secret_key": secret_key.reveal()}
    if billing.customer_id is not None:
        doc["customer_id"] = billing.customer_id
    if billing.meter_slug is not None:
        doc["meter_slug"] = billing.meter_slug
    if billing.provider_key is not None:
        doc["provider_key"] = billing.provider_key.reveal()
    if billing.disable_billing:
        doc["disable_billing"] = True
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b64encode(raw).decode("ascii")


class TokenCache:
    """Minted tokens keyed by billing identity; bounded so a flood of customers cannot grow it."""

    __slots__ = ("_max", "_secret", "_tokens")

    def __init__(self, secret_key: Secret, max_entries: int = 10_000) -> None:
        self._secret = secret_key
        self._max = max_entries
        self._tokens: dict[Billing, str] = {}

    def get(self, billing: Billing) -> str:
        token = self._tokens.get(billing)
        if token is None:
            token = mint(self._secret, billing)
            if len(self._tokens) >= self._max:
                # Minting is microseconds; dropping the whole cache is simpler than LRU bookkeeping
                # on the hot path and is only reached with more than max_entries customers.
                self._tokens.clear()
            self._tokens[billing] = token
        return token


@dataclass(frozen=True, slots=True)
class DecodedToken:
    """A forward token read back, normalised over Lava's historical formats.

    ``format`` says which generation the token came from (``current``, ``connection``,
    ``secrets_v5``, ``plain_secret``). Fields the format does not carry are ``None``.
    """

    secret_key: Secret
    customer_id: str | None
    meter_slug: str | None
    provider_key: Secret | None
    disable_billing: bool
    format: str
    # Legacy fields, kept only so an emulator can tell what it was given.
    connection_secret: str | None = None
    product_secret: str | None = None


class TokenInvalid(ValueError):
    """The bearer value is neither a secret key nor a decodable forward token."""


def _opt_str(doc: dict[str, object], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TokenInvalid(f"forward token field {key!r} must be a string")
    return value


def decode(bearer: str) -> DecodedToken:
    """Read a bearer value the way Lava's gateway does: a plain ``aks_`` key, or a forward token.

    Accepts absent, ``null`` and ``false`` alike for the optional fields (docs' manual examples send
    ``provider_key: null``), standard or URL-safe base64, with or without padding.
    """
    if bearer.startswith(("aks_live_", "aks_test_")):
        return DecodedToken(Secret(bearer), None, None, None, False, "plain_secret")
    padded = bearer + "=" * (-len(bearer) % 4)
    try:
        raw = base64.b64decode(padded, altchars=b"-_" if ("-" in bearer or "_" in bearer) else None,
                               validate=True)
        doc = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise TokenInvalid("bearer value is not a secret key or a base64 JSON forward token") from exc
    if not isinstance(doc, dict):
        raise TokenInvalid("forward token must decode to a JSON object")
    secret = _opt_str(doc, "secret_key")
    if not secret:
        raise TokenInvalid("forward token has no secret_key")
    provider_key = _opt_str(doc, "provider_key")
    disable = doc.get("disable_billing")
    if disable not in (None, False, True):
        raise TokenInvalid("forward token field 'disable_billing' must be a boolean")
    customer = _opt_str(doc, "customer_id")
    fmt = "current"
    if customer is None and "connection_id" in doc:
        customer, fmt = _opt_str(doc, "connection_id"), "connection"
    connection_secret = _opt_str(doc, "connection_secret")
    product_secret = _opt_str(doc, "product_secret")
    if connection_secret is not None or product_secret is not None:
        fmt = "secrets_v5"
    return DecodedToken(
        secret_key=Secret(secret),
        customer_id=customer,
        meter_slug=_opt_str(doc, "meter_slug"),
        provider_key=Secret(provider_key) if provider_key else None,
        disable_billing=bool(disable),
        format=fmt,
        connection_secret=connection_secret,
        product_secret=product_secret,
    )
