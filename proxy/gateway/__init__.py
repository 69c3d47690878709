"""The outbound hop to Lava: the client contract and a selector over its implementations."""

from __future__ import annotations

from collections.abc import Callable

from ..config import Gateway
from .base import REASONS, Body, Sink, UpstreamClient, UpstreamError, UpstreamResponse, backoff

__all__ = ["REASONS", "Body", "Sink", "UpstreamClient", "UpstreamError", "UpstreamResponse", "backoff",
           "make_client"]


def make_client(settings: Gateway, *, on_retry: Callable[[], None] | None = None) -> UpstreamClient:
    """The configured client (``gateway.client``); imported lazily so only one is loaded."""
    if settings.client == "lean":
        from .lean import LeanClient

        return LeanClient(settings, on_retry=on_retry)
    from .aiohttp_client import AiohttpClient

    return AiohttpClient(settings, on_retry=on_retry)
