"""``lava-sidecar demo``: Lava's whole flow on loopback (local gateway, sidecar, customers, SDKs)."""

from .flow import run_demo

__all__ = ["run_demo"]
