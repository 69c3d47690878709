"""Prices from Lava: the merchant's meters, listed from Lava's REST API (``GET /v1/meters``, every
page, through ``proxy.billing``) at start and every ``pricing.refresh_seconds``, become the price
catalog the recorder charges each request with.

``config`` reads the ``pricing:`` section; ``convert`` turns Lava's meters into ``MeterRate``s
(pure); ``refresh.PriceCatalog`` is the background task that lists, converts and swaps the catalog
into ``metering.Pricing`` in one assignment (``meters:`` in config still wins per slug), keeps the
last good catalog when a listing fails, logs once per change of state and exports
``lava_sidecar_price_catalog_*``. Startup never waits for it. Only ``config`` is imported here:
``proxy.config`` imports this package for ``Settings.pricing``.
"""

from .config import PricingSettings, read_pricing

__all__ = ["PricingSettings", "read_pricing"]
