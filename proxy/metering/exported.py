"""The totals' own metrics, read at scrape time (a collector: nothing is done per record): customers
kept for ``/usage``, customers evicted past ``usage_totals.max_customers`` (their sums are in the
``evicted`` aggregate), and tier positions forgotten past the same bound."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .pricing import Pricing
from .totals import Totals


class TotalsCollector(Collector):
    """Exports one ``Totals``' (and its ``Pricing``'s) counts; ``register`` it once per registry."""

    def __init__(self, totals: Totals, pricing: Pricing) -> None:
        self._totals = totals
        self._pricing = pricing

    def register(self, registry: CollectorRegistry) -> None:
        registry.register(self)

    def describe(self) -> Iterator[Metric]:
        return self._families(0, 0, 0, 0)

    def collect(self) -> Iterator[Metric]:
        t = self._totals
        return self._families(len(t), t.max_customers, t.evicted_customers, self._pricing.forgotten)

    @staticmethod
    def _families(kept: int, cap: int, evicted: int, forgotten: int) -> Iterator[Metric]:
        yield GaugeMetricFamily("lava_sidecar_usage_customers",
                                "Customers /usage keeps apart (at most usage_totals.max_customers).",
                                value=kept)
        yield GaugeMetricFamily("lava_sidecar_usage_customers_limit",
                                "usage_totals.max_customers.", value=cap)
        yield CounterMetricFamily(
            "lava_sidecar_usage_customers_evicted",
            "Least recently seen customers evicted from /usage to stay within "
            "usage_totals.max_customers; their sums are in its evicted aggregate, and the usage "
            "log has every line.", value=evicted)
        yield CounterMetricFamily(
            "lava_sidecar_price_tier_positions_forgotten",
            "Customer x meter tier positions forgotten past usage_totals.max_customers (that "
            "customer's next charge on that meter starts from the first tier).", value=forgotten)
