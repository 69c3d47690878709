"""Routing: prefixes map to configured provider roots; no path can reach another host."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.config import load_settings
from proxy.errors import RouteNotFound
from proxy.routing import Router, forward_url
from proxy.usage.base import Api

from .conftest import TEST_SECRET

SETTINGS = load_settings(None, {"LAVA_SECRET_KEY": TEST_SECRET})
ROUTER = Router(SETTINGS)
PROVIDER_HOSTS = {urlsplit(p.base_url).hostname for p in SETTINGS.providers}


@pytest.mark.parametrize(("target", "provider", "url", "api"), [
    ("/v1/chat/completions", "openai", "https://api.openai.com/v1/chat/completions", Api.CHAT),
    ("/openai/v1/embeddings", "openai", "https://api.openai.com/v1/embeddings", Api.EMBEDDINGS),
    ("/v1/responses", "openai", "https://api.openai.com/v1/responses", Api.RESPONSES),
    ("/v1/models", "openai", "https://api.openai.com/v1/models", Api.MODELS),
    ("/v1/models/gpt-5", "openai", "https://api.openai.com/v1/models/gpt-5", Api.MODELS),
    ("/v1/files?purpose=batch&limit=2", "openai", "https://api.openai.com/v1/files?purpose=batch&limit=2",
     Api.OTHER),
    ("/v1/audio/transcriptions", "openai", "https://api.openai.com/v1/audio/transcriptions",
     Api.AUDIO_TRANSCRIPTION),
    ("/anthropic/v1/messages", "anthropic", "https://api.anthropic.com/v1/messages", Api.MESSAGES),
    ("/anthropic/v1/messages/count_tokens", "anthropic",
     "https://api.anthropic.com/v1/messages/count_tokens", Api.COUNT_TOKENS),
    ("/anthropic/v1/messages?beta=true", "anthropic", "https://api.anthropic.com/v1/messages?beta=true",
     Api.MESSAGES),
    ("/groq/v1/chat/completions", "groq", "https://api.groq.com/openai/v1/chat/completions", Api.CHAT),
    ("/fireworks/v1/completions", "fireworks", "https://api.fireworks.ai/inference/v1/completions",
     Api.COMPLETIONS),
    ("/v1/images/generations", "openai", "https://api.openai.com/v1/images/generations", Api.IMAGES),
])
def test_routes(target: str, provider: str, url: str, api: Api) -> None:
    r = ROUTER.resolve(target)
    assert (r.provider.name, r.upstream_url, r.api) == (provider, url, api)


@pytest.mark.parametrize("target", [
    "/", "/v2/chat", "/unknown/v1/x", "/openai", "/openaiv1/chat",
    "/v1/../../etc/passwd", "/v1/%2e%2e/x", "/v1/%2E/x", "/v1/./x", "/v1//evil.com/x",
    "/v1/a%2fb", "/v1/a%5cb", "/v1/a\\b", "/v1/a b", "/v1/%zz", "/v1/x%00", "//evil.com/v1/x",
    "/v1/chat?u=http://evil.com x", "/v1/\r\nHost: evil",
])
def test_refused(target: str) -> None:
    with pytest.raises(RouteNotFound):
        ROUTER.resolve(target)


def test_forward_url_encodes_everything() -> None:
    url = forward_url("https://api.lava.so", "https://api.openai.com/v1/files?purpose=batch&x=a/b")
    assert url == ("https://api.lava.so/v1/forward?u=https%3A%2F%2Fapi.openai.com%2Fv1%2Ffiles"
                   "%3Fpurpose%3Dbatch%26x%3Da%2Fb")


@given(st.text(alphabet=st.characters(codec="latin-1"), max_size=80))
def test_no_path_reaches_an_unconfigured_host(tail: str) -> None:
    for prefix in ("/v1/", "/openai/v1/", "/anthropic/v1/", "/groq/v1/"):
        try:
            route = ROUTER.resolve(prefix + tail)
        except RouteNotFound:
            continue
        parts = urlsplit(route.upstream_url)
        assert parts.hostname in PROVIDER_HOSTS
        assert route.upstream_url.startswith(route.provider.base_url + "/") or \
            route.upstream_url == route.provider.base_url
        assert ".." not in unquote(parts.path).split("/")
        # What Lava decodes from u= is exactly the URL we built.
        fwd = forward_url("http://gw", route.upstream_url)
        assert unquote(fwd.split("?u=", 1)[1]) == route.upstream_url


# -- Google's native Gemini API (issue 20) -------------------------------------------------------

GEMINI = "https://generativelanguage.googleapis.com"


@pytest.mark.parametrize(("target", "url", "api", "model", "stream"), [
    ("/gemini/v1beta/models/gemini-2.5-flash:generateContent",
     GEMINI + "/v1beta/models/gemini-2.5-flash:generateContent", Api.GENERATE_CONTENT,
     "gemini-2.5-flash", False),
    # google-genai 3.x with a base URL set: /v1/…, and the stream's alt=sse reaches the provider
    ("/gemini/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
     GEMINI + "/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse", Api.GENERATE_CONTENT,
     "gemini-2.5-flash", True),
    ("/gemini/v1alpha/models/gemini-3.1-pro-preview:countTokens",
     GEMINI + "/v1alpha/models/gemini-3.1-pro-preview:countTokens", Api.COUNT_TOKENS,
     "gemini-3.1-pro-preview", False),
    ("/gemini/v1/models/gemini-embedding-001:batchEmbedContents",
     GEMINI + "/v1/models/gemini-embedding-001:batchEmbedContents", Api.EMBEDDINGS,
     "gemini-embedding-001", False),
    ("/gemini/v1beta/models?pageSize=50", GEMINI + "/v1beta/models?pageSize=50", Api.MODELS, None,
     False),
    ("/gemini/v1beta/cachedContents/abc", GEMINI + "/v1beta/cachedContents/abc", Api.OTHER, None,
     False),
    ("/gemini/upload/v1beta/files?uploadType=resumable",
     GEMINI + "/upload/v1beta/files?uploadType=resumable", Api.OTHER, None, False),
])
def test_gemini_routes_take_model_and_method_from_the_path(target: str, url: str, api: Api,
                                                            model: str | None, stream: bool) -> None:
    r = ROUTER.resolve(target)
    assert (r.provider.name, r.provider.family, r.upstream_url, r.api) == ("gemini", "gemini", url, api)
    assert r.facts is not None
    assert (r.facts.api, r.facts.model, r.facts.stream) == (api, model, stream)
    assert r.shape == "gemini"


@pytest.mark.parametrize(("query", "kept"), [
    ("alt=sse&key=AIzaSyTHEKEY", "?alt=sse"),
    ("key=AIzaSyTHEKEY&alt=sse", "?alt=sse"),
    ("key=AIzaSyTHEKEY", ""),
    ("KEY=a&k%65y=b&alt=sse&key", "?alt=sse"),   # Google reads k%65y as key
    ("alt=sse&monkey=1&keys=2", "?alt=sse&monkey=1&keys=2"),
])
def test_the_key_query_parameter_is_a_credential_and_never_leaves(query: str, kept: str) -> None:
    r = ROUTER.resolve("/gemini/v1beta/models/m:streamGenerateContent?" + query)
    assert r.upstream_url == GEMINI + "/v1beta/models/m:streamGenerateContent" + kept
    assert "AIza" not in ROUTER.forward_url(r.upstream_url)
    # the OpenAI-compatible route to Google takes ?key= too; other providers keep their queries
    assert ROUTER.resolve("/google/v1/chat/completions?key=AIzaX").upstream_url.endswith(
        "/openai/chat/completions")
    assert ROUTER.resolve("/v1/files?key=x").upstream_url.endswith("/v1/files?key=x")


def test_gemini_base_path_and_refusal_shape() -> None:
    from proxy.routing import shape_for_path
    assert ROUTER.is_base_path("/gemini")
    assert ROUTER.is_base_path("/gemini/")
    assert shape_for_path("/gemini/v1beta/x") == "gemini"
    with pytest.raises(RouteNotFound, match="/gemini"):
        ROUTER.resolve("/geminix/v1beta/models")


def test_routes_are_remembered_per_target_and_bounded() -> None:
    from proxy import routing

    router = Router(SETTINGS)
    first = router.resolve("/v1/chat/completions")
    assert router.resolve("/v1/chat/completions") is first  # remembered: not checked again
    gemini = "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIza-x"
    assert router.resolve(gemini) == Router(SETTINGS).resolve(gemini)
    assert "key=" not in router.resolve(gemini).upstream_url
    # A refused target is refused every time: nothing about it is kept.
    for _ in range(2):
        with pytest.raises(RouteNotFound):
            router.resolve("/v1/../admin")
    # A flood of distinct targets: the memo never holds more than its bound; each still resolves.
    for i in range(routing._ROUTE_CACHE * 2 + 5):
        route = router.resolve(f"/v1/chat/completions?n={i}")
        assert route.upstream_url.endswith(f"/chat/completions?n={i}")
        assert len(router._routes) <= routing._ROUTE_CACHE
    long_query = "/v1/chat/completions?q=" + "a" * routing._ROUTE_KEY_MAX
    assert router.resolve(long_query).upstream_url.endswith("a" * 100)
    assert long_query not in router._routes
