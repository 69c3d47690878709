"""Quota refusals in both API shapes, with the headers the official SDKs' retry reads."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import openai

from proxy.errors import QuotaBackendUnavailable, QuotaExceeded, SidecarError, render


def test_a_429_in_both_shapes_with_a_stable_code_per_kind() -> None:
    err = QuotaExceeded("Quota exceeded: …", kind="tokens", limit=1000, retry_after=1.2)
    assert (err.status, err.code) == (429, "customer_tokens_exceeded")
    assert json.loads(render("openai", err))["error"]["type"] == "rate_limit_exceeded"
    body = json.loads(render("anthropic", err))["error"]
    assert (body["type"], body["code"]) == ("rate_limit_error", "customer_tokens_exceeded")
    assert err.headers() == [("retry-after", "2"), ("retry-after-ms", "1200")]
    spend = QuotaExceeded("…", kind="spend", limit=Decimal("25"), retry_after=5 * 3600)
    assert ("x-should-retry", "false") in spend.headers()
    assert SidecarError("x").headers() == []
    down = QuotaBackendUnavailable("…")
    assert (down.status, down.code, down.headers()) == (503, "quota_backend_unavailable", [])


def test_the_openai_sdk_waits_the_retry_after_ms_it_is_given() -> None:
    """The SDK's own retry computes its wait from our headers (no network: its public helper)."""
    err = QuotaExceeded("…", kind="requests", limit=100, retry_after=0.35)
    client = openai.OpenAI(api_key="x", base_url="http://127.0.0.1:9/v1")
    headers = httpx.Headers(err.headers())
    options = openai._models.FinalRequestOptions(method="post", url="/chat/completions")
    wait = client._calculate_retry_timeout(2, options, headers)
    assert wait == 0.35
    client.close()
