from __future__ import annotations

import base64
import json

import pytest

from proxy.emulator.auth import GatewayAuthFailed, authenticate, bearer_of
from proxy.emulator.permissive import MERCHANT_ID, PermissiveAccounts
from proxy.secret import Secret
from proxy.tokens import Billing, mint

KEY = "aks_test_gatewayauth0123456789"


def _b64(doc: dict[str, object], *, urlsafe: bool = False, pad: bool = True) -> str:
    raw = json.dumps(doc).encode()
    text = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()
    return text if pad else text.rstrip("=")


def test_bearer_sources() -> None:
    assert bearer_of({"authorization": "Bearer abc"}) == "abc"
    assert bearer_of({"authorization": "bearer   abc  "}) == "abc"
    assert bearer_of({"x-api-key": "abc"}) == "abc"
    assert bearer_of({"authorization": "Bearer one", "x-api-key": "two"}) == "one"
    assert bearer_of({"authorization": "Basic Zm9v", "x-api-key": "two"}) == "two"
    assert bearer_of({"authorization": "Bearer "}) is None
    assert bearer_of({}) is None


@pytest.mark.parametrize(("bearer", "fmt", "customer", "meter"), [
    (KEY, "plain_secret", None, None),
    (mint(Secret(KEY), Billing("cus_1", "tokens")), "current", "cus_1", "tokens"),
    (_b64({"secret_key": KEY, "customer_id": "cus_2", "meter_slug": "m", "provider_key": None,
           "disable_billing": False}), "current", "cus_2", "m"),
    (_b64({"secret_key": KEY, "connection_id": "con_3", "meter_slug": "m"}), "connection",
     "con_3", "m"),
    (_b64({"secret_key": KEY, "connection_secret": "cs", "product_secret": "ps"}), "secrets_v5",
     None, None),
    (_b64({"secret_key": KEY, "customer_id": "cus_4~?", "meter_slug": "m>"}, urlsafe=True,
          pad=False), "current", "cus_4~?", "m>"),
])
def test_every_token_format_is_read(bearer: str, fmt: str, customer: str | None,
                                    meter: str | None) -> None:
    accounts = PermissiveAccounts(Secret(KEY))
    for headers in ({"authorization": f"Bearer {bearer}"}, {"x-api-key": bearer}):
        caller = authenticate(headers, accounts)
        assert caller.merchant_id == MERCHANT_ID
        assert caller.token.format == fmt
        assert (caller.token.customer_id, caller.token.meter_slug) == (customer, meter)
        assert caller.token.secret_key.reveal() == KEY


@pytest.mark.parametrize("headers", [
    {},
    {"authorization": "Bearer aks_test_someoneelse"},
    {"authorization": "Bearer " + mint(Secret("aks_live_other"), Billing("c", "m"))},
    {"authorization": "Bearer not-base64-at-all!"},
    {"authorization": "Bearer " + base64.b64encode(b"[1,2]").decode()},
    {"authorization": "Bearer " + _b64({"customer_id": "c"})},
    {"authorization": "Bearer " + "A" * 20_000},
])
def test_refusals_are_401_and_never_echo_the_credential(headers: dict[str, str]) -> None:
    with pytest.raises(GatewayAuthFailed) as info:
        authenticate(headers, PermissiveAccounts(Secret(KEY)))
    assert info.value.status == 401
    bearer = headers.get("authorization", "").removeprefix("Bearer ")
    text = str(info.value)
    assert "aks_test_someoneelse" not in text
    assert "aks_live_other" not in text
    if bearer:
        assert bearer[:16] not in text
