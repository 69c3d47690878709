"""The lean outbound client: keep-alive asyncio Protocols parsed by httptools (``LeanClient``)."""

from __future__ import annotations

from .client import LeanClient, Tuning
from .response import LeanResponse

__all__ = ["LeanClient", "LeanResponse", "Tuning"]
