"""The fault matrix runs against both outbound clients (``gateway.client``: aiohttp and lean)."""

from __future__ import annotations

import pytest

CLIENTS = ("aiohttp", "lean")


@pytest.fixture(params=CLIENTS)
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)
