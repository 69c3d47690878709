"""Passthrough: forward to a real server (e.g. a local OpenAI-compatible one) instead of the mock,
relaying its answer as it arrives and reading usage from a copy of the bytes.

The gateway's own credential never goes upstream: the token's ``provider_key`` (BYOK) does, or the
key configured for that upstream, as Lava injects its managed key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import aiohttp
from aiohttp import web

from ..errors import Shape
from ..headers import HOP_BY_HOP
from ..tokens import DecodedToken
from ..usage.base import Extractor, RequestFacts
from .extract import extractor_for
from .state import Upstream
from .target import Target
from .writer import Delivery

_NOT_FORWARDED: Final = HOP_BY_HOP | frozenset({"authorization", "x-api-key", "accept-encoding"})
_NOT_RELAYED: Final = HOP_BY_HOP - {"content-length"}


class UpstreamUnavailable(Exception):
    """The upstream could not be reached or failed before answering (→ 502)."""


def rebase(upstream: Upstream, target: Target) -> str:
    """``https://api.openai.com/v1/x?q`` on ``http://127.0.0.1:9000/p`` → ``…:9000/p/v1/x?q``."""
    url = upstream.base_url.rstrip("/") + target.path
    return url + ("?" + target.query if target.query else "")


def outbound_headers(received: Iterable[tuple[str, str]], token: DecodedToken,
                     upstream: Upstream, shape: Shape) -> list[tuple[str, str]]:
    out = [(n, v) for n, v in received
           if n.lower() not in _NOT_FORWARDED and not n.lower().startswith(("x-lava-",
                                                                            "x-emulator-"))]
    key = token.provider_key or upstream.api_key
    if key is not None:
        # Each provider's own credential header (Lava's provider pages: x-api-key, x-goog-api-key).
        name = {"anthropic": "x-api-key", "gemini": "x-goog-api-key"}.get(shape)
        out.append((name, key.reveal()) if name else ("Authorization", "Bearer " + key.reveal()))
    # Identity keeps the relayed bytes readable for usage; a real Lava negotiates its own.
    out.append(("Accept-Encoding", "identity"))
    return out


async def relay(request: web.Request, session: aiohttp.ClientSession, upstream: Upstream,
                target: Target, body: bytes, token: DecodedToken, shape: Shape,
                facts: RequestFacts, out: Delivery) -> tuple[web.StreamResponse, Extractor | None]:
    """Relay one request; raises ``UpstreamUnavailable`` when nothing could be relayed."""
    headers = outbound_headers(request.headers.items(), token, upstream, shape)
    try:
        upstream_resp = await session.request(request.method, rebase(upstream, target),
                                              data=body, headers=headers, allow_redirects=False)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise UpstreamUnavailable(type(exc).__name__) from exc
    async with upstream_resp:
        extractor = extractor_for(facts, shape, upstream_resp.headers.get("Content-Type"),
                                  upstream_resp.headers.get("Content-Encoding"))
        resp = web.StreamResponse(status=upstream_resp.status)
        for name, value in upstream_resp.headers.items():
            if name.lower() not in _NOT_RELAYED:
                resp.headers.add(name, value)
        try:
            await resp.prepare(request)
            out.status, out.headers_sent = upstream_resp.status, True
            async for chunk in upstream_resp.content.iter_any():
                await resp.write(chunk)
                out.bytes_sent += len(chunk)
                if extractor is not None:
                    extractor.feed(chunk)
            await resp.write_eof()
            out.complete = True
        except (ConnectionError, RuntimeError):
            out.client_gone = True
        except (TimeoutError, aiohttp.ClientError):
            # The upstream broke mid-body: cut the client's connection too, as a proxy must.
            out.aborted = True
            if request.transport is not None:
                request.transport.abort()
        return resp, extractor
