"""What a finished request is worth and who it is counted for: the recorder that fans each
``RequestRecord`` out to the usage log, the metrics and the per-customer totals, the charge
estimate from meter prices, and the bounded totals ``/usage`` serves a page at a time."""

from .meterview import MeterViews
from .pricing import Pricing, quantity
from .recorder import Recorder
from .totals import Totals
from .usagepage import UsageQuery, parse_query, usage_body

__all__ = ["MeterViews", "Pricing", "Recorder", "Totals", "UsageQuery", "parse_query", "quantity",
           "usage_body"]
