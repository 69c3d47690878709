"""Prometheus metrics: every family the sidecar exports (``catalog``), the lock-free families the
request path updates (``families``) and bounded label values (``labels``)."""

from .catalog import Metrics
from .families import CounterFamily, FamiliesCollector, HistogramFamily
from .labels import MAX_METERS, MAX_VALUE_LENGTH, OVERFLOW, LabelCap

__all__ = [
    "MAX_METERS",
    "MAX_VALUE_LENGTH",
    "OVERFLOW",
    "CounterFamily",
    "FamiliesCollector",
    "HistogramFamily",
    "LabelCap",
    "Metrics",
]
