"""One finished request → estimated charge, metrics, per-customer totals and one usage log line.

``record`` runs in the handler's ``finally``: synchronous, O(1), and it never raises (a bug here
must not turn a served request into an error); internal failures are logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from decimal import Decimal

from prometheus_client import CollectorRegistry

from .. import __version__
from ..config import Settings
from ..metrics import Metrics
from ..record import RequestRecord
from ..usagelog import HistorySnapshot, Ledger, uses_file
from ..usagelog.metrics import LedgerCollector
from .exported import TotalsCollector
from .pricing import Pricing
from .totals import Totals

log = logging.getLogger("lava_sidecar.recorder")


class Recorder:
    """The handler's sink. Owns nothing it did not get: build it with ``Recorder.open``."""

    __slots__ = ("_failures", "_history", "ledger", "metrics", "pricing", "settings", "totals")

    def __init__(self, settings: Settings, metrics: Metrics, ledger: Ledger | None,
                 totals: Totals, pricing: Pricing) -> None:
        self.settings = settings
        self.metrics = metrics
        self.ledger = ledger
        self.totals = totals
        self.pricing = pricing
        self._failures = 0
        self._history: HistorySnapshot | None = None

    @classmethod
    async def open(cls, settings: Settings, registry: CollectorRegistry, *,
                   replay: bool | None = None, version: str = __version__) -> Recorder:
        """Build the metering stack and start the log writer; startup never waits for a replay.

        With ``replay`` (default: ``usage_log.replay_on_start``, file logs only) the retained
        files are opened and their sizes fixed *before* the writer starts, so ``replay_log`` later
        reads exactly the history and never a line this process writes.
        """
        # Prices may come from Lava's catalog: the charge family exists whenever prices can.
        priced = bool(settings.meters) or settings.pricing.from_lava
        metrics = Metrics(registry, settings.metrics, version=version, priced=priced)
        cfg = settings.usage_log
        ledger = Ledger(cfg, observer=metrics) if cfg.path is not None else None
        cap = settings.usage_totals.max_customers
        rec = cls(settings, metrics, ledger, Totals(max_customers=cap),
                  Pricing(settings.meters, max_accounts=cap))
        TotalsCollector(rec.totals, rec.pricing).register(registry)
        if ledger is not None:
            LedgerCollector(ledger).register(registry)
        if (cfg.replay_on_start if replay is None else replay) and uses_file(cfg) and cfg.path:
            rec._history = await asyncio.to_thread(HistorySnapshot.take, cfg.path, cfg.backups)
            rec.totals.replay = "pending"
        if ledger is not None:
            await ledger.start()
            metrics.watch(usage_log_pending=lambda: ledger.pending)
        return rec

    async def replay_log(self, batch: int = 2000) -> int:
        """Rebuild totals and tier positions from the history snapshot, alongside live traffic.

        Decoding (~25 µs a line) runs in a worker thread a batch at a time; each batch is applied
        on the event loop, so it never races ``record``. Totals end the same whatever the
        interleaving; graduated-tier charge *estimates* for requests served while the replay runs
        use the tier position reached so far.
        """
        history, self._history = self._history, None
        if history is None:
            return 0
        started, n = time.monotonic(), 0
        self.totals.replay = "running"
        try:
            while records := await asyncio.to_thread(history.decode_next, batch):
                for rec in records:
                    self.totals.add(rec, self._charge(rec))
                n += len(records)
        finally:
            history.close()
            self.totals.replay = "done"
        log.info("usage log: replayed %d records into the totals in %.1fs", n, time.monotonic() - started)
        return n

    async def aclose(self) -> None:
        """Flush and fsync every accepted line. Call after the last request has finished."""
        if self.ledger is not None:
            await self.ledger.aclose()

    def usage_log_healthy(self) -> bool:
        """For ``Runtime.usage_log_healthy``: false while the log cannot be written."""
        return self.ledger is None or self.ledger.healthy

    def record(self, rec: RequestRecord) -> Decimal | None:
        """Account for one finished request and return its charge estimate (None: not priced).
        Never blocks, never raises."""
        try:
            charge = self._charge(rec)
        except Exception:
            charge = None
            self._failed(rec, "pricing")
        # Each step on its own: the durable line matters most and must not depend on the rest.
        if self.ledger is not None:
            try:
                self.ledger.submit(rec, charge)
            except Exception:
                self._failed(rec, "usage log")
        try:
            self.totals.add(rec, charge)
        except Exception:
            self._failed(rec, "totals")
        try:
            self.metrics.observe(rec, charge)
        except Exception:
            self._failed(rec, "metrics")
        return charge

    def _charge(self, rec: RequestRecord) -> Decimal | None:
        if rec.outcome in ("rejected", "rate_limited"):  # refused before it left: nothing billed
            return None
        return self.pricing.charge(rec.customer_id, rec.meter_slug, rec.usage)

    def _failed(self, rec: RequestRecord, step: str) -> None:
        self._failures += 1
        # Counting a failure must not fail the request.
        with contextlib.suppress(Exception):
            self.metrics.recorder_error()
        # Once, then at 2, 4, 8, …: a bug on every request must not flood the log.
        if self._failures & (self._failures - 1) == 0:
            log.exception("recording request %s failed in %s (%d failures so far)",
                          rec.request_id, step, self._failures)
