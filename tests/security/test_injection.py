"""Hostile values on the wire: control characters and non-ASCII in customer ids and metadata, CR/LF
header injection, path traversal and encoded-slash tricks, attempts to steer ``u=`` to another
host, undefined routes. Nothing reaches Lava that the policy does not allow, and the sidecar
keeps serving."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from proxy.config import Identity
from proxy.emulator.state import Seen

from ..faults.harness import CHAT, MESSAGES, Pair, body_for, call, fault_stack, who
from .rawhttp import exchange, request_head

pytestmark = pytest.mark.timeout(60)

ALLOWED_HOSTS = {"api.openai.com", "api.anthropic.com"}
BODY = body_for(CHAT, stream=False)


@pytest.fixture
async def pair(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with fault_stack(tmp_path, "aiohttp") as s:
        yield s


def no_control_chars(seen: Seen) -> None:
    for name, value in seen.headers:
        assert not any(ord(ch) < 0x20 and ch != "\t" for ch in name + value), (name, value)
        assert "\x7f" not in value


async def still_serving(pair: Pair) -> None:
    assert (await call(pair.side.url, CHAT)).status == 200


@pytest.mark.parametrize("customer", [
    "cus_é", "cus\x01a", "cus_a\x7f", "cus a", "cus/../../x", "cus_a;drop", "c" * 129, "cus\u202eevil",
    "'cus'", "cus%0d%0a", "",
])
async def test_malformed_customer_ids_are_refused(pair: Pair, customer: str) -> None:
    head = request_head("POST", CHAT, [("Content-Type", "application/json"),
                                       ("X-Lava-Customer-Id", customer), ("X-Lava-Meter", "m")],
                        body=BODY)
    reply = await exchange(pair.side.url, head, BODY)
    assert reply.status in (400, 401)
    if reply.headers.get("content-type") == "application/json":
        err = json.loads(reply.body)["error"]
        # invalid_http: a control character in a header value, refused by the HTTP parser itself.
        assert err["code"] in ("customer_id_invalid", "customer_missing", "invalid_http")
        # Echoed safely: printable ASCII only, never the raw bytes.
        assert all(0x20 <= ord(ch) < 0x7f for ch in err["message"])
    assert pair.gw.seen == []
    await still_serving(pair)


async def test_conflicting_customer_headers_are_refused(pair: Pair) -> None:
    """Two different customers named on one request (an app bug, or a proxy in between adding its
    own): billing either would be a guess, so the request is refused."""
    head = request_head("POST", CHAT, [("Content-Type", "application/json"),
                                       ("X-Lava-Customer-Id", "cus_a"), ("X-Lava-Meter", "m"),
                                       ("X-Lava-Customer-Id", "cus_b")], body=BODY)
    reply = await exchange(pair.side.url, head, BODY)
    assert reply.status == 400
    assert json.loads(reply.body)["error"]["code"] == "customer_id_invalid"
    assert pair.gw.seen == []


@pytest.mark.parametrize("raw", [
    b"X-Lava-Customer-Id: cus_a\rX-Injected: 1",
    b"X-Lava-Customer-Id: cus_a\nX-Injected: 1",
    b"X-Lava-Customer-Id: cus_a\r\n X-Injected: folded",
    b"anthropic-beta: a\rAuthorization: Bearer stolen",
    b"X-Lava-Metadata: {\"k\":\"v\"}\nX-Lava-Customer-Id: cus_other",
])
async def test_header_injection(pair: Pair, raw: bytes) -> None:
    """Bare CR, bare LF, obsolete line folding: refused by the parser, or at worst split into
    separate headers; never a control character inside a header sent to Lava."""
    head = b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" \
        b"X-Lava-Meter: m\r\n" + raw + b"\r\nContent-Length: " + str(len(BODY)).encode()
    reply = await exchange(pair.side.url, head, BODY)
    if reply.status == 200:
        seen = await pair.gw.last.finished()
        no_control_chars(seen)
        assert seen.token is not None
        assert seen.token.customer_id == "cus_a"
        assert seen.header("x-injected") in (None, "1")
        assert [v for n, v in seen.headers if n.lower() == "authorization"] != ["Bearer stolen"]
    else:
        assert 400 <= reply.status < 500
    await still_serving(pair)


async def test_metadata_with_unicode_and_control_characters(pair: Pair) -> None:
    values = {"note": "é ✓ \u0000 \r\n \u2028 end", "user_id": "u_1"}
    reply = await call(pair.side.url, CHAT, headers={"X-Lava-Metadata": json.dumps(values)})
    assert reply.status == 200
    seen = await pair.gw.last.finished()
    no_control_chars(seen)
    sent = seen.header("x-lava-metadata")
    assert sent is not None
    assert sent.isascii()
    assert json.loads(sent) == values  # intact, only escaped


@pytest.mark.parametrize("value", [
    "{\"k\": \"v\x01\"}", "[1,2]", "{\"bad key\": \"v\"}", "{\"k\": 5}", "{" * 10_000, "\u00ff",
])
async def test_malformed_metadata_is_refused(pair: Pair, value: str) -> None:
    head = request_head("POST", CHAT, [("Content-Type", "application/json"), *who().items(),
                                       ("X-Lava-Metadata", value)], body=BODY)
    reply = await exchange(pair.side.url, head, BODY)
    assert reply.status == 400
    if reply.headers.get("content-type") == "application/json":
        # invalid_http: a raw control character, refused by the HTTP parser itself.
        assert json.loads(reply.body)["error"]["code"] in ("metadata_invalid", "invalid_http")
    assert pair.gw.seen == []


TRICKS = [
    "/v1/../admin", "/v1/%2e%2e/secret", "/v1/%2E%2E%2Fmetrics", "/v1/chat%2fcompletions",
    "/v1//chat/completions", "/v1/chat/completions/..", "/v1/chat%5ccompletions", "/v1\\..\\x",
    "/v1/%00", "/v1/..;/x", "//evil.example/v1/chat/completions", "/v1/@evil.example/x",
    "http://evil.example/v1/chat/completions", "/v1%2F..%2F..%2Fx", "/v1/chat/completions%3Fu=https://evil",
    "/v1/chat/completions?u=https://evil.example/",
    "/v1/chat/completions?x=1&u=https%3A%2F%2Fevil.example%2F",
    "/v1/chat/completions?a=%0d%0aHost:evil", "/v1/chat/completions#https://evil.example",
    "/anthropic/v1/../../v1/messages", "/anthropic/v1/messages/%2e%2e", "/v1/./chat/completions",
    "/v1/chat/completions%20HTTP/1.1%0d%0aHost:%20evil", "/v1/%ff%fe", "/v1/caf\u00e9",
]


@pytest.mark.parametrize("target", TRICKS)
async def test_requests_can_never_leave_the_configured_providers(pair: Pair, target: str) -> None:
    head = request_head("POST", target, [("Content-Type", "application/json"), *who().items()], body=BODY)
    reply = await exchange(pair.side.url, head, BODY)
    for seen in pair.gw.seen:
        assert seen.url is not None
        url = urlsplit(seen.url)
        assert url.scheme == "https"
        assert url.hostname in ALLOWED_HOSTS
        assert ".." not in url.path.split("/")
        assert url.path.startswith("/v1/")
    if not pair.gw.seen:
        assert reply.status in (400, 404)
        if reply.status == 404:  # ours, in the caller's shape (a 400 is the HTTP parser's)
            assert json.loads(reply.body)["error"]["code"] == "route_not_found"
    await still_serving(pair)


@pytest.mark.parametrize(("target", "shape"), [
    ("/v2/chat/completions", "openai"), ("/", "openai"), ("/metrics", "openai"),
    ("/nosuchprovider/v1/chat/completions", "openai"), ("/anthropic/v2/messages", "anthropic"),
    ("/anthropic", "anthropic"), ("/usage", "openai"),
])
async def test_undefined_routes_are_404_in_shape(pair: Pair, target: str, shape: str) -> None:
    reply = await call(pair.side.url, target, body=BODY)
    assert reply.status == 404
    doc = reply.json()
    assert doc["error"]["code"] == "route_not_found"
    assert (doc.get("type") == "error") is (shape == "anthropic")
    assert pair.gw.seen == []


@pytest.mark.parametrize("method", ["CONNECT", "TRACE"])
async def test_odd_methods_never_tunnel(pair: Pair, method: str) -> None:
    target = "evil.example:443" if method == "CONNECT" else "/v1/models"
    reply = await exchange(pair.side.url, request_head(method, target, list(who().items())))
    for seen in pair.gw.seen:
        assert seen.url is not None
        assert urlsplit(seen.url).hostname in ALLOWED_HOSTS
    assert reply.status != 200 or method == "TRACE"
    await still_serving(pair)


async def test_anthropic_route_stays_on_anthropic(pair: Pair) -> None:
    reply = await call(pair.side.url, MESSAGES + "?beta=true", body=body_for(MESSAGES, stream=False))
    assert reply.status == 200
    seen = await pair.gw.last.finished()
    assert seen.url == "https://api.anthropic.com/v1/messages?beta=true"


async def test_lava_metadata_cannot_be_forged_past_a_renamed_header(tmp_path: Path, client_kind: str) -> None:
    """With the metadata header renamed in config, a client-sent ``x-lava-metadata`` must still not
    reach Lava: only the sidecar sets it (validated, merged with the static metadata)."""
    identity = dataclasses.replace(Identity(), metadata_header="x-app-metadata")
    async with fault_stack(tmp_path, client_kind, identity=identity) as s:
        reply = await call(s.side.url, CHAT, headers={"X-Lava-Metadata": json.dumps({"forged": "1"}),
                                                      "X-App-Metadata": json.dumps({"real": "1"})})
        assert reply.status == 200
        seen = await s.gw.last.finished()
    values = [v for n, v in seen.headers if n.lower() == "x-lava-metadata"]
    assert values == ['{"real":"1"}']
    assert seen.metadata == {"real": "1"}
