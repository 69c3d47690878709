"""The seam between the emulator's forward path (``forward``/``providers``) and its accounts
(meters, plans, customers, credit, request records). Two sides are built separately; this is the
whole of what they know of each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from ..tokens import DecodedToken
from ..usage.base import Usage


@dataclass(frozen=True, slots=True)
class Denial:
    """The gateway refuses before calling the provider: 401 bad key/customer, 402 no credit, 400."""

    status: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Served:
    """One forwarded request, after the provider answered (or failed)."""

    request_id: str                 # req_<ULID>, also sent as x-lava-request-id
    provider: str                   # openai | anthropic | <host>
    endpoint: str                   # "POST https://api.openai.com/v1/chat/completions"
    model: str | None
    response_id: str | None
    usage: Usage                    # what the provider served (mock: exact; passthrough: extracted)
    status: str                     # "completed" | "error"
    metadata: dict[str, str] = field(default_factory=dict)
    timestamp: float = 0.0          # unix seconds


@dataclass(frozen=True, slots=True)
class Settled:
    request_id: str
    cost: Decimal                   # provider base cost (mock prices)
    charge: Decimal                 # what the customer (or merchant) was charged


class Accounts(Protocol):
    """Merchant state. Sync on purpose: it is in-memory or local SQLite, microseconds per call."""

    def merchant_for(self, secret_key: str) -> str | None:
        """The merchant id owning this secret key, or None (→ 401)."""
        ...

    def admit(self, token: DecodedToken) -> Denial | None:
        """Checks before the provider is called: customer/meter exist, meter on plan, credit > 0."""
        ...

    def settle(self, token: DecodedToken, served: Served) -> Settled:
        """Record the request (``/requests``, ``/usage``), charge per the meter, draw credits,
        fire ``customer.wallet.balance.updated``."""
        ...
