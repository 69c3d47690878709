"""The quota metrics, on an injected ``CollectorRegistry`` (never the global one).

Rejections and check latency are on the request path, so they are the lock-free families; the
backend's health and errors are rare events on prometheus_client's own gauge and counter.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..metrics.families import CounterFamily, FamiliesCollector, HistogramFamily
from ..metrics.labels import LabelCap

# A memory check is microseconds; a Redis one a fraction of a millisecond; timeouts are ~50 ms.
CHECK_BUCKETS: Final = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                        0.01, 0.025, 0.05, 0.1, 0.25)
OPS: Final = ("admit", "complete", "renew", "ping")


class QuotaMetrics:
    __slots__ = ("_check", "_customers", "_errors", "_rejections", "_unchecked", "_with_customer",
                 "backend_up")

    def __init__(self, registry: CollectorRegistry, *, max_customers: int = 1000,
                 customer_label: bool = True) -> None:
        self._with_customer = customer_label
        self._customers = LabelCap(max_customers)
        self._rejections = CounterFamily(
            "lava_sidecar_quota_rejections_total", "Requests refused by a customer quota (429).",
            ("kind", "customer") if customer_label else ("kind",))
        self._check = HistogramFamily(
            "lava_sidecar_quota_check_seconds", "Time an admission check took, store round trip "
            "included.", ("backend",), CHECK_BUCKETS)
        registry.register(FamiliesCollector((self._rejections, self._check)))
        self.backend_up = Gauge("lava_sidecar_quota_backend_up",
                                "1 while the quota store answers (every circuit closed); 0 from "
                                "its first failure until a probe is answered, and before the "
                                "first answer at start.", registry=registry)
        self.backend_up.set(1)
        errors = Counter("lava_sidecar_quota_backend_errors_total",
                         "Quota store exchanges that failed (refused, error reply, or no reply by "
                         "the deadline), by what they carried; settlements dropped count as "
                         "complete.", ("op",), registry=registry)
        self._errors = {op: errors.labels(op) for op in OPS}
        unchecked = Counter("lava_sidecar_quota_unchecked_total",
                            "Requests the quota store could not decide, by on_backend_error: allow "
                            "(admitted without a check) or reject (answered 503).", ("policy",),
                            registry=registry)
        self._unchecked = {p: unchecked.labels(p) for p in ("allow", "reject")}

    def rejected(self, kind: str, customer: str) -> None:
        if self._with_customer:
            self._rejections.inc((kind, self._customers.admit(customer)))
        else:
            self._rejections.inc((kind,))

    def checked(self, backend: str, seconds: float) -> None:
        self._check.observe((backend,), seconds)

    def backend_error(self, op: str) -> None:
        self._errors[op].inc()

    def unchecked(self, policy: str) -> None:
        self._unchecked[policy].inc()
