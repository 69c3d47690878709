"""Where a forwarded request goes: the raw ``/v1/forward`` query → the provider URL (``Target``).

Lava documents a percent-encoded ``u`` but unencoded values work and are common, and SDKs pointed at
``…/forward?u=https://api.openai.com/v1`` append their path (and their own query parameters) after
it; see ../shared/reference/lava-api.md 3.1. So ``u`` is decoded once, as any query parameter is
(HTTP clients re-encode parts of it anyway: yarl turns ``%3A%2F%2F`` back into ``://``), characters
a URL cannot hold are re-escaped, and parameters Lava does not own go on to the provider URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from ..errors import RequestRejected

#: Query parameters that belong to Lava, not to the provider URL.
LAVA_PARAMS: Final = frozenset({"u", "metadata"})
MAX_URL_CHARS: Final = 8192
#: RFC 3986 reserved and unreserved characters plus "%": what ``quote`` must leave alone.
_URL_SAFE: Final = ":/?#[]@!$&'()*+,;=-._~%"


class TargetInvalid(RequestRejected):
    """``u`` is missing or is not an absolute http(s) URL."""

    code = "forward_target_invalid"


@dataclass(frozen=True, slots=True)
class Target:
    url: str                  # the provider URL as it will be called, query included
    host: str                 # lower-case host name, no port
    path: str                 # URL path, e.g. /v1/chat/completions
    query: str                # provider query string (no "?"), "" when none
    metadata: str | None      # the decoded ``metadata`` query parameter, if given

    @property
    def endpoint(self) -> str:
        """The URL without its query: what Lava records as a request's endpoint."""
        return self.url.partition("?")[0]


def parse_forward_query(raw_query: str) -> Target:
    """Read ``u`` (and ``metadata``) from the raw, still-encoded query string of a forward call."""
    pieces = raw_query.split("&") if raw_query else []
    raw_u: str | None = None
    metadata: str | None = None
    extra: list[str] = []
    for piece in pieces:
        name, _, value = piece.partition("=")
        if name == "u" and raw_u is None:
            raw_u = value
        elif name == "metadata" and metadata is None:
            metadata = unquote_plus(value)
        elif raw_u is not None and piece:
            # After u: the SDK's or the provider URL's own parameters (an unencoded u with a query).
            extra.append(piece)
    if not raw_u:
        raise TargetInvalid(
            "Missing 'u': call /v1/forward?u=<percent-encoded provider URL>, for example "
            "/v1/forward?u=https%3A%2F%2Fapi.openai.com%2Fv1%2Fchat%2Fcompletions.")
    url = quote(unquote(raw_u), safe=_URL_SAFE)
    if extra:
        url += ("&" if "?" in url else "?") + "&".join(extra)
    return _validated(url, metadata)


def _validated(url: str, metadata: str | None) -> Target:
    if len(url) > MAX_URL_CHARS:
        raise TargetInvalid(f"'u' must be at most {MAX_URL_CHARS} characters long.")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise TargetInvalid("'u' is not a valid URL.") from exc
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise TargetInvalid("'u' must be an absolute http(s) URL such as "
                            "https://api.openai.com/v1/chat/completions.")
    return Target(url=url, host=host.lower(), path=parts.path or "/", query=parts.query,
                  metadata=metadata)
