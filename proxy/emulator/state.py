"""The gateway's state: its options (frozen), the accounts, and the record of every forwarded
request (``Seen``) that tests assert on. Created by the caller, hung off the app; no globals.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ..secret import Secret
from ..tokens import DecodedToken
from ..usage.base import MISSING, Usage
from .cassettes import Cassette
from .contracts import Accounts, Served, Settled
from .faults import Fault
from .permissive import PermissiveAccounts
from .providers import Pacing
from .writer import Limits


@dataclass(frozen=True, slots=True)
class Upstream:
    """A real server standing in for a provider host: its base URL replaces the target's
    ``scheme://host[:port]``; ``api_key`` is sent unless the token carries a ``provider_key``."""

    base_url: str
    api_key: Secret | None = None


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    pacing: Pacing = field(default_factory=Pacing)
    cassettes: tuple[Cassette, ...] = ()
    cassette_seed: int = 0
    cassette_max_chunk: int = 512
    #: (provider host, upstream) pairs: forward to a real server instead of the mock.
    passthrough: tuple[tuple[str, Upstream], ...] = ()
    max_body_bytes: int = 32 * 1024 * 1024
    seen_limit: int = 1000
    limits: Limits = field(default_factory=Limits)
    keepalive_interval: float = 0.05
    #: For the accounts side (SQLite file); the forward path does not use it.
    db_path: Path | None = None

    def upstream_for(self, host: str) -> Upstream | None:
        return next((u for h, u in self.passthrough if h == host), None)


@dataclass(slots=True, eq=False)
class Seen:
    """One request that reached ``/v1/forward``, as the gateway saw it, and how it ended."""

    request_id: str
    method: str
    url: str | None                     # the decoded provider URL (None: ``u`` was unusable)
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    body: bytes = field(repr=False)
    token: DecodedToken | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    fault: Fault | None = None
    source: str = ""                    # mock | cassette | passthrough; "" when refused
    refused: str | None = None          # the gateway's error code when it refused (401/400/402…)
    status: int = 0                     # status sent (0: the connection was reset before one)
    complete: bool = False              # the whole reply reached the client
    served: Served | None = None        # what was passed to ``Accounts.settle``
    reported: Usage = MISSING           # the usage the delivered bytes state (mock replies)
    settled: Settled | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for n, v in self.headers if n.lower() == lname), None)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def usage(self) -> Usage:
        """The usage settled for this request (``MISSING`` when nothing was served)."""
        return self.served.usage if self.served else MISSING

    async def finished(self, within: float = 10.0) -> Seen:
        """Wait until the gateway has settled this request (it may outlive the client's read)."""
        async with asyncio.timeout(within):
            await self.done.wait()
        return self


class GatewayState:
    """Everything the gateway app holds; ``session`` is opened and closed by the app."""

    __slots__ = ("accounts", "db_path", "options", "secret_key", "seen", "session")

    def __init__(self, secret_key: Secret, accounts: Accounts | None = None,
                 options: GatewayOptions | None = None) -> None:
        self.secret_key = secret_key
        self.accounts: Accounts = accounts or PermissiveAccounts(secret_key)
        self.options = options or GatewayOptions()
        self.db_path = self.options.db_path
        self.seen: deque[Seen] = deque(maxlen=self.options.seen_limit)
        self.session: aiohttp.ClientSession | None = None
