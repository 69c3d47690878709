"""Header policy: provider headers byte for byte; credentials, browser and control headers never."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proxy.headers import accept_encoding, outbound, response_headers
from proxy.redact import REDACTED, redact_headers, redact_text
from proxy.secret import Secret
from proxy.tokens import Billing, mint

CONTROL = frozenset({"x-lava-customer-id", "x-lava-meter", "x-lava-metadata"})
TOKEN = mint(Secret("aks_test_k1"), Billing("c", "m"))


def test_outbound_policy() -> None:
    inbound = [
        ("Host", "127.0.0.1:8787"), ("Content-Type", "application/json"), ("Content-Length", "10"),
        ("anthropic-version", "2023-06-01"), ("anthropic-beta", "a,b"), ("OpenAI-Beta", "assistants=v2"),
        ("openai-organization", "org"), ("X-Stainless-Lang", "python"), ("User-Agent", "OpenAI/Python"),
        ("Authorization", "Bearer sk-app-dummy"), ("x-api-key", "sk-app"), ("Cookie", "a=b"),
        ("Origin", "http://x"), ("Referer", "http://x"), ("X-Forwarded-For", "1.2.3.4"),
        ("Connection", "keep-alive"), ("X-Lava-Customer-Id", "c"), ("x-lava-meter", "m"),
        ("X-Lava-Metadata", "{}"), ("Accept-Encoding", "gzip, deflate, br, zstd"), ("Idempotency-Key", "k"),
    ]
    out = outbound(inbound, CONTROL, TOKEN, '{"a":"b"}')
    assert out == [
        ("Content-Type", "application/json"), ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "a,b"), ("OpenAI-Beta", "assistants=v2"), ("openai-organization", "org"),
        ("X-Stainless-Lang", "python"), ("User-Agent", "OpenAI/Python"), ("Idempotency-Key", "k"),
        ("Authorization", "Bearer " + TOKEN), ("Accept-Encoding", "gzip, deflate"),
        ("x-lava-metadata", '{"a":"b"}'),
    ]


@given(st.lists(st.tuples(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
                          st.text(max_size=20)), max_size=20))
def test_outbound_never_carries_app_credentials(headers: list[tuple[str, str]]) -> None:
    out = outbound([*headers, ("authorization", "Bearer app"), ("X-API-KEY", "app")], CONTROL, TOKEN, None)
    names = [n.lower() for n, _ in out]
    assert names.count("authorization") == 1
    assert dict((n.lower(), v) for n, v in out)["authorization"] \
        == "Bearer " + TOKEN
    assert not {"x-api-key", "cookie", "origin", "host", "x-lava-customer-id"} & set(names)


def test_accept_encoding_only_decodable() -> None:
    assert accept_encoding(None) == "identity"
    assert accept_encoding("br") == "identity"
    assert accept_encoding("gzip;q=1.0, br;q=0.9") == "gzip;q=1.0"


def test_response_headers() -> None:
    up = [("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked"), ("Connection", "close"),
          ("x-lava-request-id", "req_1"), ("Content-Length", "5")]
    assert response_headers(up, keep_length=True) == [
        ("Content-Type", "text/event-stream"), ("x-lava-request-id", "req_1"), ("Content-Length", "5")]
    assert ("Content-Length", "5") not in response_headers(up, keep_length=False)


def test_redaction() -> None:
    text = f"token={TOKEN} key=aks_live_ABC123xyz auth=Bearer sk-proj-123456789 spend=lava_sk_abc"
    clean = redact_text(text)
    assert TOKEN not in clean
    assert "aks_live_ABC" not in clean
    assert "sk-proj-123456789" not in clean
    assert "lava_sk_abc" not in clean
    assert redact_headers([("Authorization", "x"), ("X-Other", TOKEN)]) == [
        ("Authorization", REDACTED), ("X-Other", REDACTED)]


@given(customer=st.text(max_size=30), meter=st.text(max_size=30))
def test_every_forward_token_is_caught(customer: str, meter: str) -> None:
    token = mint(Secret("aks_live_zz"), Billing(customer, meter))
    assert token not in redact_text(f"oops {token} leaked")


def test_googles_api_key_header_never_leaves_and_is_redacted() -> None:
    inbound = [("Content-Type", "application/json"),
               ("x-goog-api-key", "AIzaSyD-app-key-0123456789abcdefghijk"),
               ("x-goog-api-client", "google-genai-sdk/3.6.1 gl-python/3.11.7")]
    out = outbound(inbound, CONTROL, TOKEN, None)
    assert [n for n, _ in out] == ["Content-Type", "x-goog-api-client", "Authorization", "Accept-Encoding"]
    assert redact_headers(inbound)[1] == ("x-goog-api-key", REDACTED)
    text = ("GET https://generativelanguage.googleapis.com/v1beta/models?key=AIzaSyD-app-key-0123456789abc&"
            "alt=sse failed; key AIzaSyD-app-key-0123456789abcdefghijk")
    clean = redact_text(text)
    assert "AIza" not in clean
    assert "key=" not in clean
    assert "alt=sse" in clean
