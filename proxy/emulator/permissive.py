"""``PermissiveAccounts``: the simplest ``Accounts`` — one merchant key, everyone admitted, nothing
charged, every ``Served`` kept. For tests and for running the forward path without billing."""

from __future__ import annotations

import hmac
from collections import deque
from decimal import Decimal
from typing import Final

from ..secret import Secret
from ..tokens import DecodedToken
from .contracts import Denial, Served, Settled

MERCHANT_ID: Final = "mer_local"


class PermissiveAccounts:
    __slots__ = ("_key", "served")

    def __init__(self, secret_key: Secret, *, keep: int = 10_000) -> None:
        self._key = secret_key
        #: Every settled request, oldest first (bounded: the oldest are dropped past ``keep``).
        self.served: deque[Served] = deque(maxlen=keep)

    def merchant_for(self, secret_key: str) -> str | None:
        ok = hmac.compare_digest(secret_key.encode(), self._key.reveal().encode())
        return MERCHANT_ID if ok else None

    def admit(self, token: DecodedToken) -> Denial | None:
        return None

    def settle(self, token: DecodedToken, served: Served) -> Settled:
        self.served.append(served)
        return Settled(served.request_id, Decimal(0), Decimal(0))
