"""Hostile-input tests share the fault matrix's ``client_kind`` (both outbound clients)."""

from __future__ import annotations

from ..faults.conftest import client_kind

__all__ = ["client_kind"]
