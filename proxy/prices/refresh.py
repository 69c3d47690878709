"""The background task that keeps the price catalog current.

At start (never delaying readiness) and every ``pricing.refresh_seconds`` (sooner after a
failure, backing off) it lists every page of the merchant's meters from Lava (``GET /v1/meters``
through ``proxy.billing``, the merchant key as the bearer), converts them (``convert``) and hands
the result to ``Pricing.use_catalog``: one assignment, so a request is priced with the old catalog
or the new one, never a mix. A listing that fails keeps the last good catalog. The log gets one
line per change of state (first catalog, failing, failing differently, working again), not one
per attempt. A measured response on a meter the catalog lacks (one created in Lava since the last
listing) brings the next listing forward, at most every ``RELIST_SECONDS``; a slug that listing
does not price either asks no more until the next periodic listing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..billing import AsyncLavaClient, LavaError
from ..metering.pricing import MeterRate, Pricing
from ..secret import Secret
from .config import PricingSettings
from .convert import catalog

log = logging.getLogger("lava_sidecar.prices")

#: Meters read per listing at most (100 pages of Lava's largest page); more are left unpriced.
MAX_METERS: Final = 10_000
PAGE_SIZE: Final = 100
#: Meters named in one log line at most.
_NAMED: Final = 5
#: After a failed listing the next comes sooner (0.5 s, doubling, up to ``refresh_seconds``): a
#: sidecar that starts before its network does should not wait five minutes for its prices.
FIRST_RETRY_SECONDS: Final = 0.5
#: A measured response on a meter the catalog lacks (created in Lava since the last listing) brings
#: the next listing forward, but never to less than this after the previous one started.
RELIST_SECONDS: Final = 10.0
#: Unknown slugs remembered between listings (asked about, or listed and still not in Lava).
_MAX_ASKED: Final = 1000
_MAX_ABSENT: Final = 10_000


def next_delay(refresh_seconds: float, failures: int) -> float:
    """Seconds to the next listing after ``failures`` failed ones in a row (0: the last was good)."""
    if failures <= 0:
        return refresh_seconds
    return min(refresh_seconds, FIRST_RETRY_SECONDS * 2.0 ** min(failures - 1, 30))


class PriceCatalog:
    """Lists Lava's meters into ``pricing``; ``start`` the loop, ``aclose`` it. ``refresh`` runs one
    listing now (the loop and tests use it); ``loaded`` is set after the first good one, ``tried``
    after the first one, good or not."""

    def __init__(self, cfg: PricingSettings, pricing: Pricing, *, base_url: str,
                 secret_key: Secret, registry: CollectorRegistry, page_size: int = PAGE_SIZE,
                 relist_seconds: float = RELIST_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cfg = cfg
        self._pricing = pricing
        self._base_url = base_url
        self._key = secret_key
        self._clock = clock
        self._page = page_size
        self._relist = relist_seconds
        self._wake = asyncio.Event()
        #: Slugs that woke the loop since the last listing, and those a listing then did not
        #: price either (they wake it no more until the next periodic listing).
        self._asked: set[str] = set()
        self._absent: set[str] = set()
        #: Listings attempted so far.
        self.listings = 0
        self._client: AsyncLavaClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._state: tuple[object, ...] = ("starting",)
        self._failing = False
        self.loaded = asyncio.Event()
        #: Set when the first listing has ended, well or not (the usage-log replay waits for it).
        self.tried = asyncio.Event()
        #: When the catalog in use was listed (``clock`` seconds), ``None`` before the first one.
        self.listed_at: float | None = None
        self.rates: dict[str, MeterRate] = {}
        #: The meters the last good listing left out, with their reasons (slug, reason).
        self.skipped: tuple[tuple[str, str], ...] = ()
        Gauge("lava_sidecar_price_catalog_meters",
              "Meters priced from Lava's catalog (the last good listing).",
              registry=registry).set_function(lambda: len(self.rates))
        Gauge("lava_sidecar_price_catalog_age_seconds",
              "Seconds since the catalog in use was listed from Lava; +Inf before the first.",
              registry=registry).set_function(self.age)
        self._errors = Counter("lava_sidecar_price_catalog_refresh_errors_total",
                               "Listings of Lava's meters that failed (the last good catalog "
                               "stays in use).", registry=registry)
        Gauge("lava_sidecar_price_catalog_skipped_meters",
              "Meters the last good listing left out (unreadable, unpriceable, or beyond the "
              "bounds of any real meter); their charges are null. Reasons are in the log.",
              registry=registry).set_function(lambda: len(self.skipped))

    def age(self) -> float:
        return math.inf if self.listed_at is None else max(self._clock() - self.listed_at, 0.0)

    def start(self) -> None:
        self._pricing.on_unknown = self._unknown
        self._task = asyncio.create_task(self._run(), name="price-catalog")

    def _unknown(self, slug: str) -> None:
        # On the loop thread (the recorder's): set lookups and an Event set, O(1), cannot fail.
        if slug in self._absent or slug in self._asked or len(self._asked) >= _MAX_ASKED:
            return
        self._asked.add(slug)
        self._wake.set()

    async def aclose(self) -> None:
        self._pricing.on_unknown = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        failures, woken = 0, False
        loop = asyncio.get_running_loop()
        while True:
            if not woken:  # a periodic listing: every slug may ask again
                self._absent.clear()
            asked, self._asked = self._asked, set()
            self._wake.clear()
            started = loop.time()
            if await self.refresh():
                failures = 0
                still = (s for s in asked if not self._pricing.priced(s))
                self._absent.update(itertools.islice(still, max(_MAX_ABSENT - len(self._absent), 0)))
            else:
                failures += 1
            delay = next_delay(self._cfg.refresh_seconds, failures)
            woken = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    woken = await self._wake.wait()
            # Woken by an unknown meter: list again, but not sooner than ``relist_seconds``.
            rest = started + min(self._relist, delay) - loop.time()
            if rest > 0:
                await asyncio.sleep(rest)

    async def refresh(self) -> bool:
        """One listing; ``True`` when it replaced the catalog. Never raises (but cancellation)."""
        self.listings += 1
        try:
            return await self._refresh()
        finally:
            self.tried.set()

    async def _refresh(self) -> bool:
        try:
            async with asyncio.timeout(self._cfg.timeout_seconds):
                meters, more = await self._list()
        except Exception as exc:  # any failure keeps the last good catalog
            self._errors.inc()
            self._failed(exc)
            return False
        got = catalog(meters)
        self._pricing.use_catalog(got.rates)
        self.rates, self.skipped, self.listed_at = got.rates, got.skipped, self._clock()
        self.loaded.set()
        self._changed(("ok", more, got.skipped),
                      lambda: self._listed(len(got.rates), more, got.skipped))
        return True

    async def _list(self) -> tuple[list[object], bool]:
        """Every meter's JSON document: each is read on its own (``convert.read``), so one that
        cannot be read skips itself instead of failing the listing."""
        if self._client is None:
            self._client = AsyncLavaClient(base_url=self._base_url, secret_key=self._key,
                                           timeout=self._cfg.timeout_seconds)
        meters: list[object] = []
        async for m in self._client.meters.iter_documents(limit=self._page):
            if len(meters) == MAX_METERS:
                return meters, True
            meters.append(m)
        return meters, False

    # -- one log line per change of state ---------------------------------------------------

    def _changed(self, state: tuple[object, ...], say: Callable[[], None]) -> None:
        if state != self._state:
            self._state = state
            say()

    def _listed(self, n: int, more: bool, skipped: tuple[tuple[str, str], ...]) -> None:
        again = " again" if self._failing else ""
        self._failing = False
        log.info("prices: %d meters listed from Lava%s; charges use them (meters: in config "
                 "wins per slug)", n, again)
        if more:
            log.warning("prices: Lava lists more than %d meters; the rest are not priced here "
                        "(their charges are null)", MAX_METERS)
        if skipped:
            named = "; ".join(f"{slug!r}: {why}" if slug else f"(no meter_slug): {why}"
                              for slug, why in skipped[:_NAMED])
            log.warning("prices: %d meters cannot be priced here, their charges are null (%s%s)",
                        len(skipped), named, ", …" if len(skipped) > _NAMED else "")

    def _failed(self, exc: BaseException) -> None:
        kind = type(exc).__name__
        detail = str(exc) if isinstance(exc, LavaError) else (
            f"no complete answer within {self._cfg.timeout_seconds:g}s"
            if isinstance(exc, TimeoutError) else kind)

        def say() -> None:
            self._failing = True
            if self.listed_at is None:
                keep = "no prices from Lava yet: charges for meters not in meters: are null"
            else:
                keep = f"keeping the last good catalog ({len(self.rates)} meters)"
            log.warning("prices: listing meters from Lava failed (%s: %s); %s; retrying, then "
                        "every %gs", kind, detail[:300], keep, self._cfg.refresh_seconds,
                        exc_info=None if isinstance(exc, LavaError | TimeoutError) else exc)

        self._changed(("failing", kind, getattr(exc, "status", None)), say)
