"""Configuration: the typed, frozen ``Settings`` and the loader that builds them from YAML and the
environment, reporting every problem at once (``load_settings``)."""

# The loader last: it imports modules (identity) that themselves import the settings above.
from .load import load_settings, parse_listen
from .settings import (
    DEFAULT_ADMIN_LISTEN,
    DEFAULT_CONFIG_PATH,
    DEFAULT_GATEWAY_URL,
    DEFAULT_LISTEN,
    ApiKeyBinding,
    Gateway,
    Identity,
    Limits,
    Listen,
    Logging,
    MeterPrice,
    Metrics,
    Provider,
    Settings,
    Shutdown,
    Tier,
    TierType,
    UsageLog,
    UsageTotals,
)

__all__ = [
    "DEFAULT_ADMIN_LISTEN",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_GATEWAY_URL",
    "DEFAULT_LISTEN",
    "ApiKeyBinding",
    "Gateway",
    "Identity",
    "Limits",
    "Listen",
    "Logging",
    "MeterPrice",
    "Metrics",
    "Provider",
    "Settings",
    "Shutdown",
    "Tier",
    "TierType",
    "UsageLog",
    "UsageTotals",
    "load_settings",
    "parse_listen",
]
