"""The usage log's own metrics, read from the ledger at scrape time (a collector: nothing is done per
line): fields cut to keep lines within ``line.MAX_LINE_BYTES``, and rotation withheld to keep
lines younger than ``usage_log.min_retention_seconds``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .writer import Ledger


class LedgerCollector(Collector):
    """Exports one ledger's counters; ``register`` it once per registry."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def register(self, registry: CollectorRegistry) -> None:
        registry.register(self)

    def describe(self) -> Iterator[Metric]:
        return self._families(0, 0, 0)

    def collect(self) -> Iterator[Metric]:
        ledger = self._ledger
        return self._families(ledger.cuts.n, int(ledger.rotation_held), ledger.rotation_holds)

    @staticmethod
    def _families(cuts: int, held: int, holds: int) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "lava_sidecar_usage_log_truncated_fields",
            "Usage log fields cut (text, ending in ...[truncated]) or written null (an absurd "
            "number) so that no line is longer than 4.5 KiB.", value=cuts)
        yield GaugeMetricFamily(
            "lava_sidecar_usage_log_rotation_held",
            "1 while rotation is withheld because it would delete lines younger than "
            "usage_log.min_retention_seconds (the current file grows past max_bytes).", value=held)
        yield CounterMetricFamily(
            "lava_sidecar_usage_log_rotation_holds",
            "Times rotation started being withheld to keep lines younger than "
            "usage_log.min_retention_seconds.", value=holds)
