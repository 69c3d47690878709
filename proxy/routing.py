"""Where a request goes: inbound path → ``Route`` (provider, upstream URL, API), or a refusal.

The upstream URL is always a configured provider root plus a validated path, so an application can
never make the sidecar call another host: no ``.``/``..`` segments (encoded or not), no encoded
slashes or backslashes, no encoded control characters, no empty segments (``//host``), nothing outside
RFC 3986 path characters.

Google's APIs take an API key as the ``key`` query parameter: on a route to Google (the ``gemini``
family, or a ``*.googleapis.com`` base URL) that parameter is a credential, dropped here, so it is
in no upstream URL, forward URL or log (Gemini keys in URLs are a known leak: LiteLLM #8075, #13073).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote, urlsplit

from .config import Provider, Settings
from .errors import RouteNotFound, Shape
from .usage.base import Api, RequestFacts
from .usage.gemini import path_facts

# RFC 3986 pchar plus "/" and "%" (escapes are checked separately below).
_PATH_OK: Final = re.compile(r"(/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+)+/?")
_QUERY_OK: Final = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*")
# Encoded slashes and backslashes, and control characters (no API path has one; CR/LF would be
# a header-injection attempt on any hop that decodes the path).
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})|%2[Ff]|%5[Cc]|%[01][0-9A-Fa-f]|%7[Ff]")
_DOT_SEGMENT: Final = re.compile(r"/(\.|%2[Ee]){1,2}(?=/|$)")

_OPENAI_APIS: Final[dict[str, Api]] = {
    "/chat/completions": Api.CHAT,
    "/completions": Api.COMPLETIONS,
    "/embeddings": Api.EMBEDDINGS,
    "/responses": Api.RESPONSES,
    "/audio/transcriptions": Api.AUDIO_TRANSCRIPTION,
    "/audio/translations": Api.AUDIO_TRANSLATION,
    "/audio/speech": Api.AUDIO_SPEECH,
    "/moderations": Api.MODERATIONS,
    "/models": Api.MODELS,
}
_ANTHROPIC_APIS: Final[dict[str, Api]] = {
    "/messages": Api.MESSAGES,
    "/messages/count_tokens": Api.COUNT_TOKENS,
    "/models": Api.MODELS,
}


@dataclass(frozen=True, slots=True)
class Route:
    provider: Provider
    #: The provider URL Lava will call (the ``u=`` value before encoding).
    upstream_url: str
    api: Api
    #: What the path alone says, when the body is not read for it (Gemini: model and method).
    facts: RequestFacts | None = None

    @property
    def shape(self) -> Shape:
        return self.provider.family


def api_for(provider: Provider, rest: str) -> Api:
    """The API a provider-relative path speaks (``/chat/completions`` → ``Api.CHAT``)."""
    if provider.family == "gemini":
        return path_facts(rest).api
    table = _ANTHROPIC_APIS if provider.family == "anthropic" else _OPENAI_APIS
    api = table.get(rest.rstrip("/"))
    if api is not None:
        return api
    if rest.startswith("/models/"):
        return Api.MODELS
    if rest.startswith("/images/") and provider.family == "openai":
        return Api.IMAGES
    return Api.OTHER


def shape_for_path(path: str) -> Shape:
    """The error shape to answer in when no route matched: guessed from the first segment."""
    if path.startswith("/anthropic"):
        return "anthropic"
    return "gemini" if path.startswith("/gemini") else "openai"


def without_key(query: str) -> str:
    """``query`` without Google's ``key`` parameter (its name compared decoded, as Google would)."""
    if "key" not in query.lower() and "%" not in query:
        return query
    kept = [p for p in query.split("&") if unquote(p.partition("=")[0]).lower() != "key"]
    return "&".join(kept)


def _takes_query_key(p: Provider) -> bool:
    host = urlsplit(p.base_url).hostname or ""
    return p.family == "gemini" or host == "googleapis.com" or host.endswith(".googleapis.com")


class Router:
    """Built once from settings; ``resolve`` is a dict lookup plus a few checks per request."""

    __slots__ = ("_base_paths", "_by_first", "_forward", "_gateway", "_query_key", "_routes")

    def __init__(self, settings: Settings) -> None:
        self._gateway = settings.gateway.url
        #: upstream URL → forward URL. quote() walks the string in Python (3.8 µs here) and the
        #: same few URLs repeat; bounded so a flood of distinct query strings cannot grow it.
        self._forward: dict[str, str] = {}
        #: raw target → its route. An app calls the same few paths; checking and matching one
        #: cost 1.7 us (chat) to 3.9 us (Gemini) a request. Short targets only, and bounded: a
        #: flood of distinct paths costs one clear per ``_ROUTE_CACHE``, never memory.
        self._routes: dict[str, Route] = {}
        self._by_first: dict[str, list[Provider]] = {}
        #: Providers whose ``key`` query parameter is a credential (dropped).
        self._query_key = frozenset(p.name for p in settings.providers if _takes_query_key(p))
        for p in sorted(settings.providers, key=lambda p: len(p.prefix), reverse=True):
            first = "/" + p.prefix.split("/", 2)[1]
            self._by_first.setdefault(first, []).append(p)
        default = settings.provider(settings.default_provider)
        if default is not None:
            # /v1/... is the default provider's own API root (OPENAI_BASE_URL=http://sidecar/v1).
            self._by_first.setdefault("/v1", []).append(
                Provider(default.name, default.base_url, "/v1", default.family,
                         default.inject_stream_usage, default.provider_key))
        #: Each prefix, and its parent when it ends in /v1 (the Anthropic SDK's base URL is
        #: http://sidecar/anthropic; its requests go to /anthropic/v1/...).
        self._base_paths = frozenset(
            base for providers in self._by_first.values() for p in providers
            for base in (p.prefix, p.prefix.removesuffix("/v1")) if base)

    def is_base_path(self, target: str) -> bool:
        """Whether ``target`` is a provider's base path (a trailing slash or query ignored), the URL
        an SDK or a tool is configured with and may probe for connectivity."""
        return target.partition("?")[0].rstrip("/") in self._base_paths

    def resolve(self, target: str) -> Route:
        """``target`` is the raw request target: path and query exactly as the client sent them.
        A refused target raises ``RouteNotFound`` every time (only routes are remembered)."""
        route = self._routes.get(target)
        if route is None:
            route = self._resolve(target)
            if len(target) <= _ROUTE_KEY_MAX:
                if len(self._routes) >= _ROUTE_CACHE:
                    self._routes.clear()
                self._routes[target] = route
        return route

    def _resolve(self, target: str) -> Route:
        path, sep, query = target.partition("?")
        check_path(path, query)
        end = path.find("/", 1)
        first = path if end < 0 else path[:end]
        for provider in self._by_first.get(first, ()):
            prefix = provider.prefix
            if path == prefix or path.startswith(prefix + "/"):
                rest = path[len(prefix):]
                if query and provider.name in self._query_key:
                    query = without_key(query)
                url = provider.base_url + rest + (sep + query if query else "")
                if provider.family == "gemini":
                    facts = path_facts(rest)
                    return Route(provider, url, facts.api, facts)
                return Route(provider, url, api_for(provider, rest))
        raise RouteNotFound(
            f"No provider is configured for {path[:100]!r}. Point your SDK at "
            "http://<sidecar>/v1 (default provider), /openai/v1, /anthropic (Anthropic SDK), "
            "/gemini (google-genai, Gemini CLI) or /<provider>/v1 for a provider in the sidecar "
            "config.")


    def forward_url(self, upstream_url: str) -> str:
        """``forward_url`` for the configured gateway, memoised."""
        url = self._forward.get(upstream_url)
        if url is None:
            url = forward_url(self._gateway, upstream_url)
            if len(self._forward) >= _FORWARD_CACHE:
                self._forward.clear()
            self._forward[upstream_url] = url
        return url


_FORWARD_CACHE: Final = 4096
_ROUTE_CACHE: Final = 1024
_ROUTE_KEY_MAX: Final = 512


def check_path(path: str, query: str) -> None:
    if not _PATH_OK.fullmatch(path) or _BAD_ESCAPE.search(path) or _DOT_SEGMENT.search(path):
        raise RouteNotFound(
            "The request path is not allowed: it must be a plain API path without '.' or '..' "
            "segments, encoded slashes or control characters, or empty segments.")
    if query and (not _QUERY_OK.fullmatch(query) or "%00" in query):
        raise RouteNotFound("The query string holds characters that are not allowed in a URL.")


def forward_url(gateway: str, upstream_url: str) -> str:
    """Lava's forward endpoint for one provider URL, ``u=`` fully percent-encoded (query included)."""
    return f"{gateway}/v1/forward?u={quote(upstream_url, safe='')}"
