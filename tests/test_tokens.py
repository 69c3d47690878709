"""Forward tokens: the minted format is what Lava decodes, and every historic format reads back."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.secret import Secret
from proxy.tokens import Billing, TokenCache, TokenInvalid, decode, mint

KEY = Secret("aks_test_abc123")


def _json(token: str) -> dict[str, object]:
    return json.loads(base64.b64decode(token, validate=True))


def test_mint_current_format_omits_unset_fields() -> None:
    assert _json(mint(KEY, Billing("cus_1", "tokens"))) == {
        "secret_key": "aks_test_abc123", "customer_id": "cus_1", "meter_slug": "tokens"}
    assert _json(mint(KEY, Billing(None, None))) == {"secret_key": "aks_test_abc123"}


def test_mint_byok_and_disable_billing() -> None:
    doc = _json(mint(KEY, Billing("c", "m", Secret("sk-provider"), disable_billing=True)))
    assert doc["provider_key"] == "sk-provider"
    assert doc["disable_billing"] is True


def test_tokens_are_standard_padded_base64() -> None:
    token = mint(KEY, Billing("c", "m"))
    assert len(token) % 4 == 0
    assert base64.b64encode(base64.b64decode(token)).decode() == token


@given(customer=st.from_regex(r"[A-Za-z0-9._:-]{1,40}", fullmatch=True),
       meter=st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True))
def test_mint_decode_roundtrip(customer: str, meter: str) -> None:
    d = decode(mint(KEY, Billing(customer, meter)))
    assert (d.secret_key, d.customer_id, d.meter_slug, d.format) == (KEY, customer, meter, "current")


@pytest.mark.parametrize(("doc", "fmt", "customer"), [
    ({"secret_key": "aks_live_k", "customer_id": "c", "meter_slug": "m", "provider_key": None,
      "disable_billing": False}, "current", "c"),
    ({"secret_key": "aks_live_k", "connection_id": "con_1", "meter_slug": "m"}, "connection", "con_1"),
    ({"secret_key": "aks_live_k", "connection_secret": "cons_x", "product_secret": "ps_y"},
     "secrets_v5", None),
])
def test_decode_historic_formats(doc: dict[str, object], fmt: str, customer: str | None) -> None:
    token = base64.b64encode(json.dumps(doc).encode()).decode()
    d = decode(token)
    assert (d.format, d.customer_id, d.disable_billing, d.provider_key) == (fmt, customer, False, None)


def test_decode_plain_secret_and_urlsafe_unpadded() -> None:
    assert decode("aks_live_plain").format == "plain_secret"
    raw = json.dumps({"secret_key": "aks_test_k", "customer_id": "c~?>", "meter_slug": "m"}).encode()
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert decode(urlsafe).customer_id == "c~?>"


@pytest.mark.parametrize("bad", ["", "not base64!", base64.b64encode(b"[1]").decode(),
                                 base64.b64encode(b'{"customer_id":"c"}').decode(),
                                 base64.b64encode(b'{"secret_key":"k","disable_billing":"yes"}').decode()])
def test_decode_rejects(bad: str) -> None:
    with pytest.raises(TokenInvalid):
        decode(bad)


def test_cache_returns_same_token_and_stays_bounded() -> None:
    cache = TokenCache(KEY, max_entries=3)
    first = cache.get(Billing("a", "m"))
    assert cache.get(Billing("a", "m")) is first
    for i in range(10):
        assert decode(cache.get(Billing(f"c{i}", "m"))).customer_id == f"c{i}"
    assert len(cache._tokens) <= 3


def test_secret_never_prints() -> None:
    assert "abc123" not in repr(KEY)
    assert "abc123" not in str(KEY)
    assert "abc123" not in f"{KEY}"
    assert "sk-provider" not in repr(Billing("c", "m", Secret("sk-provider")))
