"""The merchant's own browser sessions: which checkout sessions a browser started and which Lava
customer it turned out to be, once the backend has confirmed it with Lava. The browser only ever
holds a random cookie; customer ids never come from it. Bounded (least recently used dropped)."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

COOKIE = "merchant_session"
#: Browsers remembered at once, and checkouts remembered per browser.
MAX_SESSIONS = 10_000
MAX_PENDING = 20


@dataclass(slots=True)
class Browser:
    #: Checkout session ids this browser started and has not confirmed yet, oldest first.
    pending: list[str] = field(default_factory=list)
    #: The Lava customer this browser paid as, confirmed over REST.
    customer_id: str | None = None

    def started(self, checkout_session_id: str) -> None:
        self.pending.append(checkout_session_id)
        del self.pending[:-MAX_PENDING]


class Sessions:
    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self._by_id: OrderedDict[str, Browser] = OrderedDict()
        self._limit = limit

    def get(self, session_id: str | None) -> Browser | None:
        browser = self._by_id.get(session_id or "")
        if browser is not None:
            self._by_id.move_to_end(session_id or "")
        return browser

    def new(self) -> tuple[str, Browser]:
        session_id = secrets.token_urlsafe(32)
        browser = self._by_id[session_id] = Browser()
        while len(self._by_id) > self._limit:
            self._by_id.popitem(last=False)
        return session_id, browser
