"""The bounds' metrics, read at scrape time from plain counters (nothing on the request path but
an integer increment): client timeouts by phase, bodies refused for want of buffer room, and
the bytes of request bodies held right now against the cap."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, Literal

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .budget import BodyBudget

Phase = Literal["head", "body"]
PHASES: Final[tuple[Phase, ...]] = ("head", "body")


class BoundsMetrics(Collector):
    __slots__ = ("_budget", "timeouts")

    def __init__(self, registry: CollectorRegistry, budget: BodyBudget) -> None:
        self._budget = budget
        self.timeouts: dict[str, int] = dict.fromkeys(PHASES, 0)
        registry.register(self)

    def client_timeout(self, phase: Phase) -> None:
        self.timeouts[phase] += 1

    def collect(self) -> Iterator[Metric]:
        timeouts = CounterMetricFamily(
            "lava_sidecar_client_timeouts_total",
            "Requests ended with a 408 because the client was too slow: phase=head "
            "(limits.header_timeout_seconds) or body (limits.body_idle_timeout_seconds).",
            labels=("phase",))
        for phase in PHASES:
            timeouts.add_metric((phase,), self.timeouts[phase])
        yield timeouts
        budget = self._budget
        yield CounterMetricFamily(
            "lava_sidecar_body_buffer_refusals_total",
            "Requests refused with a 503 because their body did not fit under "
            "limits.max_buffered_body_bytes in time.", value=budget.refusals)
        yield GaugeMetricFamily("lava_sidecar_buffered_body_bytes",
                                "Bytes of request bodies held in memory now.", value=budget.held)
        yield GaugeMetricFamily("lava_sidecar_buffered_body_limit_bytes",
                                "limits.max_buffered_body_bytes.", value=budget.capacity)
