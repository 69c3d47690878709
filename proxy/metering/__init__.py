"""What a finished request is worth and who it is counted for: the recorder that fans each
``RequestRecord`` out to the usage log, the metrics and the per-customer totals, and the charge
estimate from meter prices."""

from .pricing import Pricing, quantity
from .recorder import Recorder
from .totals import Totals

__all__ = ["Pricing", "Recorder", "Totals", "quantity"]
