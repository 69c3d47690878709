"""The ``/metrics`` body: rendered at most once per ``MAX_AGE`` per representation, however many
scrapers ask, and shared (single-flight) by the scrapes that arrive while it renders.

Rendering a registry with thousands of series costs milliseconds of CPU that hold the GIL whatever
thread runs them (issue 16: 200 concurrent scrapes took the proxy from 707 to 56 req/s). Prometheus
scrapes every 15-60 s, so a body up to a second old is indistinguishable from a fresh one, and a
scrape flood costs one render per second instead of one per scrape.

A representation is the content type prometheus_client's ``choose_encoder`` picks for the
scraper's ``Accept`` header, plus whether the body is gzipped (compressed once per render, in the
render's thread). Content types naming a format version prometheus_client does not define are
answered in the default text format, so the set of cached representations is small and fixed
whatever a client sends.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

#: How long one rendered body is served. Well under any Prometheus scrape interval.
MAX_AGE: Final = 1.0
#: The exposition versions prometheus_client renders (text 0.0.4 and 1.0.0, OpenMetrics 1.0.0
#: and 2.0.0); ``choose_encoder`` echoes any other ``version=`` a client asks for.
KNOWN_VERSIONS: Final = frozenset({"0.0.4", "1.0.0", "2.0.0"})
#: gzip level 6: most of level 9's ratio on exposition text, at about half its CPU.
_GZIP_LEVEL: Final = 6
_VERSION = re.compile(r";\s*version=([^;]*)")

Encoder = Callable[[Collector], bytes]


@dataclass(frozen=True, slots=True)
class Exposition:
    """One rendered body and how to label it."""

    content_type: str
    body: bytes
    gzipped: bool


def negotiate(accept: str) -> tuple[Encoder, str]:
    """prometheus_client's choice for ``accept``, except that an unknown or malformed version
    (which would be echoed into the content type, or fail inside ``choose_encoder``) falls back
    to the text format every scraper reads."""
    try:
        encoder, content_type = choose_encoder(accept)
    except (TypeError, ValueError):  # e.g. version=x: prometheus_client compares str with int
        return choose_encoder("")
    m = _VERSION.search(content_type)
    if m is None or m.group(1).strip() not in KNOWN_VERSIONS:
        return choose_encoder("")
    return encoder, content_type


def _encode(encoder: Encoder, registry: Collector, compress: bool) -> bytes:
    body = encoder(registry)
    return gzip.compress(body, compresslevel=_GZIP_LEVEL) if compress else body


class ExpositionCache:
    """Serves rendered exposition bodies for ``registry``, each at most ``max_age`` seconds old
    (counted from the end of its render, so a render slower than ``max_age`` cannot make the
    renders back to back)."""

    def __init__(self, registry: Collector, *, max_age: float = MAX_AGE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._registry = registry
        self._max_age = max_age
        self._clock = clock
        self._fresh: dict[tuple[str, bool], tuple[float, Exposition]] = {}
        self._rendering: dict[tuple[str, bool], asyncio.Task[Exposition]] = {}

    async def get(self, accept: str, *, gzipped: bool) -> Exposition:
        """The body for a scraper that sent ``Accept: accept`` (gzipped if it accepts gzip)."""
        encoder, content_type = negotiate(accept)
        key = (content_type, gzipped)
        hit = self._fresh.get(key)
        if hit is not None and self._clock() - hit[0] < self._max_age:
            return hit[1]
        task = self._rendering.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._render(key, encoder))
            task.add_done_callback(_retrieve)
            self._rendering[key] = task
        # Shielded: a scraper that disconnects mid-render must not cancel the others' render.
        return await asyncio.shield(task)

    async def _render(self, key: tuple[str, bool], encoder: Encoder) -> Exposition:
        try:
            # In a thread, so a large registry interleaves with the loop instead of stalling it
            # for the whole render (it still holds the GIL: that is why it renders rarely).
            body = await asyncio.to_thread(_encode, encoder, self._registry, key[1])
            exp = Exposition(key[0], body, key[1])
            self._fresh[key] = (self._clock(), exp)
            return exp
        finally:
            del self._rendering[key]


def _retrieve(task: asyncio.Task[Exposition]) -> None:
    # A render that failed after every waiting scraper left: its error is theirs, not the loop's
    # ("exception was never retrieved"); the next scrape renders again.
    if not task.cancelled():
        task.exception()
