"""Who pays: header > bound API key > default customer; bad ids refused; metadata by Lava's rules."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from proxy.config import ApiKeyBinding, Identity
from proxy.errors import IdentityError, MetadataInvalid
from proxy.http1 import Headers, field
from proxy.identity import IdentityResolver, merge_metadata
from proxy.secret import Secret

BOUND = Identity(api_keys=(ApiKeyBinding(Secret("sk-team-a"), "cus_a", "meter_a"),),
                 default_meter="default_meter")


def resolve(cfg: Identity, **headers: str) -> tuple[str | None, str | None, str]:
    r = IdentityResolver(cfg).resolve(CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}))
    return r.billing.customer_id, r.billing.meter_slug, r.via


def test_header_customer_with_meter_header_or_default() -> None:
    assert resolve(BOUND, x_lava_customer_id="cus_1", x_lava_meter="m") == ("cus_1", "m", "header")
    assert resolve(BOUND, x_lava_customer_id="cus_1") == ("cus_1", "default_meter", "header")


def test_bound_api_key_in_bearer_or_x_api_key() -> None:
    assert resolve(BOUND, authorization="Bearer sk-team-a") == ("cus_a", "meter_a", "api_key")
    assert resolve(BOUND, x_api_key="sk-team-a") == ("cus_a", "meter_a", "api_key")
    # google-genai and Gemini CLI send GEMINI_API_KEY as x-goog-api-key
    assert resolve(BOUND, x_goog_api_key="sk-team-a") == ("cus_a", "meter_a", "api_key")
    # An explicit header wins over the key binding; the meter header over the binding's meter.
    assert resolve(BOUND, authorization="Bearer sk-team-a", x_lava_customer_id="cus_b") == (
        "cus_b", "default_meter", "header")
    assert resolve(BOUND, x_api_key="sk-team-a", x_lava_meter="m2") == ("cus_a", "m2", "api_key")


def test_default_customer_and_refusals() -> None:
    single = Identity(default_customer="cus_only", default_meter="m")
    assert resolve(single) == ("cus_only", "m", "default")
    with pytest.raises(IdentityError) as info:
        resolve(BOUND, authorization="Bearer unknown-key")
    assert (info.value.status, info.value.code) == (401, "customer_missing")
    assert "X-Lava-Customer-Id" in info.value.message
    with pytest.raises(IdentityError) as info:
        resolve(Identity(), x_lava_customer_id="cus_1")
    assert (info.value.status, info.value.code) == (400, "meter_missing")


def test_merchant_billing_only_when_configured() -> None:
    assert resolve(Identity(unattributed="merchant", default_meter="m")) == (None, "m", "merchant")
    assert resolve(Identity(unattributed="merchant")) == (None, None, "merchant")


@pytest.mark.parametrize("bad", ["", "a b", "cus\r\nX-Evil: 1", "ü", "x" * 129, "a/b", "a\x00", "cus_1\n"])
def test_invalid_customer_ids_are_400(bad: str) -> None:
    with pytest.raises(IdentityError) as info:
        IdentityResolver(BOUND).resolve({"x-lava-customer-id": bad})
    assert (info.value.status, info.value.code) == (400, "customer_id_invalid")
    assert "\r" not in info.value.message
    assert "\n" not in info.value.message


def _well_formed(value: str) -> bool:
    """The rule, stated independently of the implementation's regex."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")
    return 1 <= len(value) <= 128 and all(ch in allowed for ch in value)


def _without_ows(value: str) -> str:
    """HTTP's optional whitespace (SP, HTAB) off both ends, and nothing else."""
    start, end = 0, len(value)
    while start < end and value[start] in " \t":
        start += 1
    while end > start and value[end - 1] in " \t":
        end -= 1
    return value[start:end]


@given(st.text(alphabet=st.sampled_from(" \tab_1:\x0b\xa0\n"), max_size=8) | st.text(max_size=200))
def test_any_header_value_is_accepted_only_if_well_formed(value: str) -> None:
    resolver = IdentityResolver(BOUND)
    if _well_formed(_without_ows(value)):
        assert resolver.resolve({"x-lava-customer-id": value}).billing.customer_id == _without_ows(value)
        return
    with pytest.raises(IdentityError) as info:
        resolver.resolve({"x-lava-customer-id": value})
    assert info.value.status == 400
    assert all(ord(ch) >= 32 for ch in info.value.message)  # no control characters echoed back


@given(customers=st.lists(st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True), min_size=1, max_size=30))
def test_resolution_depends_only_on_the_request(customers: list[str]) -> None:
    """Isolation: one resolver serving interleaved customers never mixes them up."""
    resolver = IdentityResolver(BOUND)
    for c in customers:
        assert resolver.resolve({"x-lava-customer-id": c}).billing.customer_id == c
        assert resolver.resolve({"x-api-key": "sk-team-a"}).billing.customer_id == "cus_a"


def test_metadata_merge_and_rules() -> None:
    assert merge_metadata((), None) is None
    assert json.loads(merge_metadata((("env", "prod"),), None) or "") == {"env": "prod"}
    merged = merge_metadata((("env", "prod"), ("team", "a")), '{"team":"b","user_id":"u1"}')
    assert json.loads(merged or "") == {"env": "prod", "team": "b", "user_id": "u1"}
    assert merge_metadata((), '{"k":"ünïcode"}') == '{"k":"\\u00fcn\\u00efcode"}'


@pytest.mark.parametrize("bad", ["not json", "[1]", '{"k": 1}', '{"bad key": "v"}', '{"k": ""}',
                                 '{"k": "' + "x" * 256 + '"}',
                                 json.dumps({f"k{i}": "v" for i in range(101)})])
def test_metadata_violations_are_clear_400s(bad: str) -> None:
    with pytest.raises(MetadataInvalid) as info:
        merge_metadata((), bad)
    assert info.value.status == 400
    assert "X-Lava-Metadata" in info.value.message


def test_the_mcp_client_header_labels_the_request_mcp_and_changes_nothing_else() -> None:
    """``lava-sidecar mcp`` sends X-Lava-Client: mcp; the customer rules are the same, the label differs."""
    assert resolve(BOUND, x_lava_customer_id="cus_1", x_lava_client="mcp") == (
        "cus_1", "default_meter", "mcp")
    assert resolve(BOUND, x_api_key="sk-team-a", x_lava_client="mcp") == ("cus_a", "meter_a", "mcp")
    # Any other value is ignored; merchant billing keeps its own label (it changes who pays).
    assert resolve(BOUND, x_lava_customer_id="cus_1", x_lava_client="other") == (
        "cus_1", "default_meter", "header")
    assert resolve(Identity(unattributed="merchant"), x_lava_client="mcp") == (None, None, "merchant")
    with pytest.raises(IdentityError):
        resolve(Identity(), x_lava_client="mcp")


def test_the_client_header_is_a_control_header_never_forwarded() -> None:
    from proxy.config import load_settings
    from proxy.identity import CLIENT_HEADER
    from proxy.pipeline.runtime import Runtime

    settings = load_settings(None, {"LAVA_SECRET_KEY": "aks_test_x0123456789"})
    assert CLIENT_HEADER in Runtime.build(settings, None, None).control_headers  # type: ignore[arg-type]


@pytest.mark.parametrize("padded", [" cus_1", "cus_1 ", "\tcus_1", "cus_1\t", " \t cus_1 \t "])
def test_optional_whitespace_is_stripped_on_both_sides_of_every_identity_header(padded: str) -> None:
    meter = padded.replace("cus_1", "m_1")
    both = CIMultiDict([("x-lava-customer-id", padded), ("x-lava-meter", meter)])
    assert resolve_headers(BOUND, both) == ("cus_1", "m_1", "header")
    # A plain mapping (one value per name) the same way.
    r = IdentityResolver(BOUND).resolve({"x-lava-customer-id": padded, "x-lava-meter": meter})
    assert (r.billing.customer_id, r.billing.meter_slug) == ("cus_1", "m_1")
    key = padded.replace("cus_1", "sk-team-a")
    assert resolve(BOUND, x_api_key=key) == ("cus_a", "meter_a", "api_key")
    assert resolve(BOUND, authorization=padded.replace("cus_1", "Bearer sk-team-a")) == (
        "cus_a", "meter_a", "api_key")
    mcp = IdentityResolver(BOUND).resolve(CIMultiDict([("x-lava-customer-id", "cus_1"),
                                                       ("x-lava-client", padded.replace("cus_1", "mcp"))]))
    assert mcp.via == "mcp"


def test_the_same_id_sent_twice_padded_differently_is_one_payer() -> None:
    twice = CIMultiDict([("x-lava-customer-id", "cus_1"), ("x-lava-customer-id", "cus_1\t "),
                         ("x-lava-meter", "m")])
    assert resolve_headers(BOUND, twice) == ("cus_1", "m", "header")


@pytest.mark.parametrize(("header", "value", "code"), [
    ("x-lava-customer-id", " cus 1 ", "customer_id_invalid"),
    ("x-lava-customer-id", "cus_1\x0b", "customer_id_invalid"),  # VT: whitespace, not HTTP's OWS
    ("x-lava-customer-id", "\xa0cus_1", "customer_id_invalid"),
    ("x-lava-customer-id", "\t \t", "customer_id_invalid"),  # nothing left: present and empty
    ("x-lava-meter", " m 1\t", "meter_slug_invalid"),
])
def test_what_stays_invalid_after_stripping_is_a_400(header: str, value: str, code: str) -> None:
    headers = {"x-lava-customer-id": "cus_1", "x-lava-meter": "m", header: value}
    with pytest.raises(IdentityError) as info:
        IdentityResolver(BOUND).resolve(CIMultiDict(headers))
    assert (info.value.status, info.value.code) == (400, code)


def resolve_headers(cfg: Identity, headers: CIMultiDict[str]) -> tuple[str | None, str | None, str]:
    r = IdentityResolver(cfg).resolve(headers)
    return r.billing.customer_id, r.billing.meter_slug, r.via


# -- remembered identities: a warm resolver answers what a fresh one does --------------------------

_VALUES = st.sampled_from(["cus_1", "cus_2", " cus_1", "cus_1\t", "", "  ", "cus bad", "x" * 129,
                           "org:cus.9", "tok-1", "mcp", " mcp ", "MCP", "é", "a\x00b"])
_NAMES = st.sampled_from(["X-Lava-Customer-Id", "x-lava-customer-id", "X-Lava-Meter", "x-lava-meter",
                          "X-Lava-Client", "Authorization", "X-Api-Key"])


def _wire(pairs: list[tuple[str, str]]) -> Headers:
    return Headers([field(name, value) for name, value in pairs])


def _outcome(resolver: IdentityResolver, headers: Headers, key: Secret | None) -> object:
    try:
        return resolver.resolve(headers, key)
    except IdentityError as err:
        return ("refused", err.code, err.status, str(err))


@given(st.lists(st.lists(st.tuples(_NAMES, _VALUES), max_size=5), min_size=1, max_size=12),
       st.sampled_from([None, Secret("sk-provider-a"), Secret("sk-provider-b")]))
def test_a_warm_resolver_answers_what_a_fresh_one_does(requests: list[list[tuple[str, str]]],
                                                       key: Secret | None) -> None:
    for cfg in (BOUND, Identity()):
        warm = IdentityResolver(cfg)
        for pairs in requests * 2:  # every request twice: the second from the memo, if kept
            headers = _wire(pairs)
            assert _outcome(warm, headers, key) == _outcome(IdentityResolver(cfg), headers, key)


def test_remembered_identities_are_bounded_and_refusals_never_kept() -> None:
    from proxy import identity

    resolver = IdentityResolver(BOUND)
    for i in range(identity._MEMO_MAX + 10):
        got = resolver.resolve(_wire([("X-Lava-Customer-Id", f"cus_{i}"), ("X-Lava-Meter", "m")]))
        assert got.billing.customer_id == f"cus_{i}"
        assert len(resolver._memo) <= identity._MEMO_MAX
    resolver._memo.clear()
    for _ in range(2):
        with pytest.raises(IdentityError):
            resolver.resolve(_wire([("X-Lava-Customer-Id", "bad id"), ("X-Lava-Meter", "m")]))
    assert not resolver._memo
    # The provider key is part of what is remembered: two providers, two billings.
    a, b = Secret("sk-a"), Secret("sk-b")
    h = _wire([("X-Lava-Customer-Id", "cus_1"), ("X-Lava-Meter", "m")])
    assert resolver.resolve(h, a).billing.provider_key == a
    assert resolver.resolve(h, b).billing.provider_key == b
