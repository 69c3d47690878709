"""Property tests for the three policies an attacker probes: identity (who pays), routing (where a
request may go, and how ``u=`` is built), header policy (what crosses to Lava). Each is checked
against an oracle written here from the documented rules, over open-ended input."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from proxy.config import ApiKeyBinding, Identity, Provider, Settings
from proxy.errors import IdentityError, RouteNotFound
from proxy.headers import outbound
from proxy.identity import IdentityResolver
from proxy.routing import Router, forward_url
from proxy.secret import Secret
from proxy.tokens import Billing, mint

CUSTOMER_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
METER_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
KEYS = {"sk-local-a": ("cus_key_a", "meter_a"), "sk-local-b": ("cus_key_b", None)}
IDENTITY = Identity(api_keys=tuple(ApiKeyBinding(Secret(k), c, m) for k, (c, m) in KEYS.items()),
                    default_meter="meter_default")

# -- identity -------------------------------------------------------------------------------------

_ids = st.sampled_from(["cus_1", "cus_2", "a.b:c-d_e", "x" * 128, " cus_1", "cus_2\t", "\t \t"]) \
    | st.text(max_size=12)


def ows(value: str) -> str:
    """HTTP's optional whitespace (SP, HTAB) around a field value is not part of it (RFC 9110 §5.5)."""
    return value.strip(" \t")
_keys = st.sampled_from([*KEYS, "sk-unbound", ""])


@st.composite
def identity_headers(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Any mix of customer headers (0-2, maybe conflicting), meter headers, and app credentials."""
    hdrs: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 2))):
        hdrs.append((draw(st.sampled_from(["X-Lava-Customer-Id", "x-lava-customer-id"])), draw(_ids)))
    for _ in range(draw(st.integers(0, 2))):
        hdrs.append(("X-Lava-Meter", draw(st.sampled_from(["m1", "m2", "bad meter"]))))
    how = draw(st.sampled_from(["none", "bearer", "x-api-key"]))
    if how == "bearer":
        hdrs.append(("Authorization", "Bearer " + draw(_keys)))
    elif how == "x-api-key":
        hdrs.append(("x-api-key", draw(_keys)))
    return draw(st.permutations(hdrs))


def oracle(hdrs: list[tuple[str, str]]) -> tuple[str, str] | str:
    """The documented rules, independently: the customer header (one value; well-formed), else a
    bound key, else refuse; the meter header, else the binding's, else the default. Values are
    taken without the optional whitespace around them."""
    customers = {ows(v) for n, v in hdrs if n.lower() == "x-lava-customer-id"}
    meters = {ows(v) for n, v in hdrs if n.lower() == "x-lava-meter"}
    if len(customers) > 1 or len(meters) > 1:
        return "refused"
    key = next((v.removeprefix("Bearer ") for n, v in hdrs if n.lower() in ("authorization", "x-api-key")),
               None)
    bound = KEYS.get(key) if key is not None else None
    if customers:
        customer, bound_meter = customers.pop(), None
        if not CUSTOMER_RE.fullmatch(customer):
            return "refused"
    elif bound is not None:
        customer, bound_meter = bound
    else:
        return "refused"
    meter = meters.pop() if meters else None
    if meter is not None and not METER_RE.fullmatch(meter):
        return "refused"
    return customer, meter or bound_meter or "meter_default"


@given(identity_headers())
def test_identity_follows_the_documented_precedence(hdrs: list[tuple[str, str]]) -> None:
    expected = oracle(hdrs)
    try:
        got = IdentityResolver(IDENTITY).resolve(CIMultiDict(hdrs))
    except IdentityError:
        assert expected == "refused"
        return
    assert (got.billing.customer_id, got.billing.meter_slug) == expected
    # The app's own credential never becomes part of who pays.
    assert all(k not in str(got.billing) for k in KEYS)


@given(st.lists(st.tuples(st.sampled_from(list(KEYS)), _ids), min_size=1, max_size=40))
def test_one_resolver_never_mixes_requests(requests: list[tuple[str, str]]) -> None:
    """Interleaved key-mapped and header-named customers through one resolver (as under load)."""
    resolver = IdentityResolver(IDENTITY)
    for key, customer in requests:
        by_key = resolver.resolve(CIMultiDict([("Authorization", f"Bearer {key}")]))
        assert by_key.billing.customer_id == KEYS[key][0]
        named = CIMultiDict([("Authorization", f"Bearer {key}"), ("X-Lava-Customer-Id", customer)])
        if CUSTOMER_RE.fullmatch(ows(customer)):
            assert resolver.resolve(named).billing.customer_id == ows(customer)
        else:
            try:
                resolver.resolve(named)
            except IdentityError:
                continue
            raise AssertionError(f"{customer!r} was accepted")


# -- routing --------------------------------------------------------------------------------------

PROVIDERS = (
    Provider("openai", "https://api.openai.com/v1", "/openai/v1", "openai"),
    Provider("anthropic", "https://api.anthropic.com/v1", "/anthropic/v1", "anthropic"),
    Provider("local", "http://vllm.internal:8000/v1", "/local/v1", "openai"),
)
ROUTER = Router(Settings(secret_key=Secret("aks_test_x"), providers=PROVIDERS))
GATEWAY = "https://api.lava.so"

_segment = st.sampled_from(["v1", "openai", "anthropic", "local", "chat", "completions", "messages",
                            "..", ".", "", "%2e%2E", "%2F", "%5c", "\\", "%0d%0a", "%00", "%", "%zz",
                            "@evil.example", "evil.example:443", "é", "%C3%A9", ";", "?", "#", "&u=",
                            "u=https://evil.example/"]) | st.text(max_size=6)


@st.composite
def targets(draw: st.DrawFn) -> str:
    path = "/" + "/".join(draw(st.lists(_segment, max_size=7)))
    query = draw(st.none() | st.text(max_size=30) | st.sampled_from(
        ["u=https://evil.example/", "a=1&u=http%3A%2F%2Fevil", "x=%0d%0a", "u"]))
    return path if query is None else f"{path}?{query}"


@given(targets())
def test_routes_only_ever_reach_configured_providers(target: str) -> None:
    try:
        route = ROUTER.resolve(target)
    except RouteNotFound:
        return
    up = urlsplit(route.upstream_url)
    base = urlsplit(route.provider.base_url)
    assert (up.scheme, up.netloc) == (base.scheme, base.netloc)
    assert route.upstream_url.startswith(route.provider.base_url)
    decoded = unquote(up.path)
    assert ".." not in decoded.split("/")
    assert not any(ord(ch) < 0x20 or ch == "\x7f" for ch in decoded)
    assert "\\" not in decoded
    assert "//" not in up.path
    # u= carries the whole provider URL as one parameter: nothing in it can add another.
    fwd = urlsplit(forward_url(GATEWAY, route.upstream_url))
    assert (fwd.scheme, fwd.netloc, fwd.path) == ("https", "api.lava.so", "/v1/forward")
    assert parse_qs(fwd.query, keep_blank_values=True) == {"u": [route.upstream_url]}


# -- header policy --------------------------------------------------------------------------------

CONTROL = frozenset({"x-lava-customer-id", "x-lava-meter", "x-lava-metadata"})
#: The same three headers renamed in config (identity.*_header).
RENAMED = frozenset({"x-tenant", "x-tenant-meter", "x-app-metadata"})
NEVER = frozenset({"authorization", "x-api-key", "api-key", "cookie", "origin", "referer", "host",
                   "x-lava-metadata",
                   "connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade",
                   "proxy-authorization", "forwarded", "x-forwarded-for", "x-real-ip", "accept-encoding",
                   "expect", "trailer", "proxy-connection", "proxy-authenticate", "x-forwarded-host",
                   "x-forwarded-proto", "x-forwarded-port"})
_PASSING = {"anthropic-version", "anthropic-beta", "OpenAI-Beta", "Content-Type", "X-Stainless-Lang",
            "User-Agent", "Idempotency-Key"}
_names = st.sampled_from(sorted(NEVER | CONTROL | RENAMED | _PASSING)) | \
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True)
_names_any_case = _names.flatmap(lambda n: st.sampled_from([n, n.upper(), n.lower(), n.title()]))


@given(inbound=st.lists(st.tuples(_names_any_case, st.text(max_size=15)), max_size=25),
       customer=st.text(max_size=10), metadata=st.none() | st.just('{"k":"v"}'),
       control=st.sampled_from([CONTROL, RENAMED]))
def test_outbound_headers_follow_the_policy(inbound: list[tuple[str, str]], customer: str,
                                            metadata: str | None, control: frozenset[str]) -> None:
    token = mint(Secret("aks_test_policy"), Billing(customer, "m"))
    out = outbound(inbound, control, token, metadata)
    kept = [(n, v) for n, v in inbound if n.lower() not in NEVER | control]
    # Everything else passes byte for byte and in order; then exactly what the sidecar adds.
    assert out[:len(kept)] == kept
    added = out[len(kept):]
    assert added[0] == ("Authorization", "Bearer " + token)
    assert added[1][0] == "Accept-Encoding"
    assert added[2:] == ([("x-lava-metadata", metadata)] if metadata is not None else [])
    # What the sidecar sets, only the sidecar sets: never a second copy from the client.
    for name in ("authorization", "accept-encoding", "x-lava-metadata"):
        assert sum(1 for n, _ in out if n.lower() == name) <= 1
