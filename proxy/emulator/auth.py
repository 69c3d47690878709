"""Who is calling the gateway: the bearer value (``Authorization: Bearer`` or ``x-api-key``) read
as a plain ``aks_`` secret key or a forward token of any known format, checked against the merchant
accounts. Messages never echo the credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import RequestRejected
from ..tokens import DecodedToken, TokenInvalid, decode
from .contracts import Accounts

#: Forward tokens are short; anything far longer is not one and is not worth decoding.
MAX_BEARER_CHARS = 16 * 1024


class GatewayAuthFailed(RequestRejected):
    status = 401
    code = "invalid_api_key"


@dataclass(frozen=True, slots=True)
class Caller:
    token: DecodedToken
    merchant_id: str


def bearer_of(headers: Mapping[str, str]) -> str | None:
    """The credential: ``Authorization: Bearer …`` first (what the SDKs send), else ``x-api-key``
    (Lava's Anthropic page and the Anthropic SDK)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    if key and key.strip():
        return key.strip()
    return None


def authenticate(headers: Mapping[str, str], accounts: Accounts) -> Caller:
    bearer = bearer_of(headers)
    if bearer is None:
        raise GatewayAuthFailed(
            "Missing credentials: send 'Authorization: Bearer <forward token or aks_ secret key>'.")
    if len(bearer) > MAX_BEARER_CHARS:
        raise GatewayAuthFailed("The bearer value is not a secret key or a forward token.")
    try:
        token = decode(bearer)
    except TokenInvalid as exc:
        raise GatewayAuthFailed(
            "The bearer value is neither an aks_ secret key nor a base64 JSON forward token "
            "(check the 'Bearer ' prefix and decode the token with base64 -d).") from exc
    merchant = accounts.merchant_for(token.secret_key.reveal())
    if merchant is None:
        raise GatewayAuthFailed(
            f"Unknown secret key ({token.secret_key.hint()}): it does not belong to any merchant "
            "of this gateway.")
    return Caller(token, merchant)
