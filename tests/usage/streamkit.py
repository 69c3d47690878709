"""Small builders for synthetic streams, and a runner that feeds them in every split."""

from __future__ import annotations

import json
from collections.abc import Callable

from proxy.usage.base import Extractor, Usage

from .recorded import splits


def sse(*events: object, event_names: list[str] | None = None, end: str = "\n") -> bytes:
    """``data:`` events (dicts are JSON-encoded), optionally named, with the given line end."""
    out = []
    for i, ev in enumerate(events):
        data = ev if isinstance(ev, str) else json.dumps(ev)
        name = f"event: {event_names[i]}{end}" if event_names else ""
        out.append(f"{name}data: {data}{end}{end}")
    return "".join(out).encode()


def run(make: Callable[[], Extractor], body: bytes) -> Usage:
    """Feed ``body`` whole, byte by byte and in random splits; all must agree; return the usage."""
    results = {}
    for how, pieces in splits(body, seed=len(body)):
        extractor = make()
        for piece in pieces:
            extractor.feed(piece)
        results[how] = extractor.finish()
    first = results["whole"]
    assert all(r == first for r in results.values()), results
    return first
