"""The ``pricing:`` section: where charges get their prices. Frozen settings and their reader;
every problem is reported with its dotted key, like the rest of the loader."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    # Only a type: ``proxy.config`` imports this module for ``Settings.pricing`` (a cycle otherwise).
    from ..config.fields import Reader

#: Below this a refresh is a load on Lava, not freshness.
MIN_REFRESH_SECONDS: Final = 0.1
MAX_SECONDS: Final = 86_400.0


@dataclass(frozen=True, slots=True)
class PricingSettings:
    #: List the merchant's meters from Lava and price with them (``meters:`` still wins per slug).
    from_lava: bool = True
    #: Seconds between listings; the first runs at start, in the background.
    refresh_seconds: float = 300.0
    #: Longest one listing (every page) may take before it counts as failed.
    timeout_seconds: float = 30.0


def _seconds(v: float) -> str | None:
    if not MIN_REFRESH_SECONDS <= v <= MAX_SECONDS:
        return f"must be between {MIN_REFRESH_SECONDS:g} and {MAX_SECONDS:g} seconds"
    return None


def read_pricing(r: Reader) -> PricingSettings:
    """``r`` is the ``pricing`` section; problems go to its list, bad values keep the default."""
    d = PricingSettings()
    settings = PricingSettings(
        from_lava=r.get("from_lava", bool, d.from_lava),
        refresh_seconds=r.get("refresh_seconds", float, d.refresh_seconds, _seconds),
        timeout_seconds=r.get("timeout_seconds", float, d.timeout_seconds, _seconds),
    )
    r.finish()
    return settings


__all__ = ["PricingSettings", "read_pricing"]
