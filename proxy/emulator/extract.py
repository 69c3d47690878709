"""Usage read from bytes the emulator did not generate itself (cassettes, passthrough), through
the sidecar's own ``proxy.usage.make_extractor``; ``MISSING`` while that is unavailable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Final

from ..errors import Shape
from ..usage.base import MISSING, Api, Extractor, RequestFacts, Usage

MAX_LINE_BYTES: Final = 4 * 1024 * 1024


def extractor_for(facts: RequestFacts, shape: Shape, content_type: str | None,
                  content_encoding: str | None) -> Extractor | None:
    """An extractor for one response, or None when the usage package has none to offer."""
    try:
        module = importlib.import_module("proxy.usage")
    except ImportError:
        return None
    factory: Callable[..., Extractor] | None = getattr(module, "make_extractor", None)
    if factory is None:
        return None
    return factory(facts, shape, content_type, content_encoding, max_line_bytes=MAX_LINE_BYTES)


def read_usage(facts: RequestFacts, shape: Shape, content_type: str | None,
               content_encoding: str | None, chunks: Iterable[bytes]) -> Usage:
    extractor = extractor_for(facts, shape, content_type, content_encoding)
    if extractor is None:
        return MISSING
    for chunk in chunks:
        extractor.feed(chunk)
    return extractor.finish()


def facts_for(api: Api, doc: object) -> RequestFacts:
    """What the request asked for, as the extractor needs it (the emulator injects nothing)."""
    if not isinstance(doc, dict):
        return RequestFacts(api=api)
    model = doc.get("model")
    opts = doc.get("stream_options")
    wants = isinstance(opts, dict) and opts.get("include_usage") is True
    return RequestFacts(api=api, model=model if isinstance(model, str) else None,
                        stream=doc.get("stream") is True, client_wants_usage=wants)
