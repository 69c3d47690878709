"""lava-sidecar: a metering sidecar that routes AI traffic through Lava per customer."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
