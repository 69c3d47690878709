"""Every inbound test runs on both loops: asyncio's (what the rest of the suite uses) and uvloop's
(what ``serve`` runs the listener on), since flow control and half-close differ between them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest
import uvloop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item,
                                  ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
