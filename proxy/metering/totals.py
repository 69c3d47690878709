"""Per-customer usage totals since start (or since the oldest replayed log line), bounded in memory
and read a page at a time: what the admin ``/usage`` endpoint serves.

One structure per record: ``add`` updates the one ``Tally`` of the record's customer on its meter
(issue 22), and marks the customer most recently seen. Past ``max_customers`` the least recently
seen customer is evicted: its tallies are folded, per meter, into the ``evicted`` aggregate and it
is counted, so per-meter and overall totals stay exact while per-customer state stays bounded (the
usage log and ``reconcile`` remain the full record). Per-meter and overall totals are derived at
read time (``meterview``), walking the customers in slices that yield to the event loop, which
``/usage`` shares with the proxy.

``charge_usd`` is the sum of the charges that could be computed, ``null`` while none could (no
price for the meter: unknown, not free); ``unpriced`` counts the measured requests left out of
it. Requests the sidecar refused itself are not counted: they never reached a provider.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from ..metrics import MAX_METERS, LabelCap
from ..record import RequestRecord
from .order import AdmissionOrder
from .tally import Tally, fold, merged

#: Customers kept apart by default (``usage_totals.max_customers``).
MAX_CUSTOMERS: Final = 100_000


class Customer(dict[str, Tally]):
    """One customer's tallies by meter (a dict itself: one object less per customer); ``seq``
    orders pages, ``mark`` names the walk that counted it."""

    __slots__ = ("mark", "seq")

    def __init__(self, seq: int, mark: int) -> None:
        super().__init__()
        self.seq = seq
        self.mark = mark

    def to_json(self) -> dict[str, object]:
        meters = {m: t.to_json() for m, t in self.items()}
        # Most customers use one meter: its tally is their total.
        total = next(iter(meters.values())) if len(meters) == 1 else merged(self).to_json()
        return {"total": total, "meters": meters}


class Walk:
    """A per-meter walk in progress (``meterview``): what it has counted so far, kept exact while
    traffic goes on (records of customers it has counted, evictions of ones it has not)."""

    __slots__ = ("meters", "n")

    def __init__(self, n: int, evicted: dict[str, Tally]) -> None:
        self.n = n
        self.meters: dict[str, Tally] = {}
        fold(self.meters, evicted)


@dataclass(frozen=True, slots=True)
class Page:
    customers: list[tuple[str, Customer]]
    #: The admission sequence number of the last customer on the page (the next page's start).
    last: int
    more: bool


class Totals:
    """Sums by customer → meter, bounded to ``max_customers``. Mutated only on the event loop."""

    __slots__ = ("_customers", "_meter_cap", "_order", "_seq", "evicted", "evicted_customers",
                 "max_customers", "records", "replay", "run", "since", "walk", "walks")

    def __init__(self, *, max_customers: int = MAX_CUSTOMERS, max_meters: int = MAX_METERS,
                 since: float | None = None) -> None:
        self._customers: OrderedDict[str, Customer] = OrderedDict()
        self._meter_cap = LabelCap(max_meters)
        self._order = AdmissionOrder()
        self._seq = 0
        self.max_customers = max(max_customers, 1)
        #: Evicted customers' sums by meter, and how many customers were evicted.
        self.evicted: dict[str, Tally] = {}
        self.evicted_customers = 0
        self.records = 0
        self.since = time.time() if since is None else since
        #: Usage-log replay at start: off | pending | running | done (shown in ``/usage``).
        self.replay = "off"
        #: Names this run in page cursors: a cursor from before a restart is refused, not misread.
        self.run = secrets.token_hex(4)
        #: The per-meter walk in progress (``meterview``), and how many have started.
        self.walk: Walk | None = None
        self.walks = 0

    def __len__(self) -> int:
        return len(self._customers)

    def add(self, rec: RequestRecord, charge: Decimal | None) -> None:
        if rec.outcome == "rejected":
            return
        self.records += 1
        if rec.started_at < self.since:
            self.since = rec.started_at
        cid = rec.customer_id or ""
        meter = self._meter_cap.admit(rec.meter_slug or "")
        entry = self._customers.get(cid)
        if entry is None:
            entry = self._admit(cid)
        else:
            self._customers.move_to_end(cid)
        tally = entry.get(meter)
        if tally is None:
            tally = entry[meter] = Tally()
        tally.add(rec, charge)
        walk = self.walk
        if walk is not None and entry.mark == walk.n:  # counted already: the walk needs this too
            counted = walk.meters.get(meter)
            if counted is None:
                counted = walk.meters[meter] = Tally()
            counted.add(rec, charge)

    def _admit(self, cid: str) -> Customer:
        if len(self._customers) >= self.max_customers:
            self._evict()
        self._seq += 1
        walk = self.walk
        # Admitted during a walk: its records reach the walk through ``add``, so it counts as seen.
        entry = Customer(self._seq, walk.n if walk is not None else 0)
        self._customers[cid] = entry
        self._order.append(self._seq, cid)
        return entry

    def _evict(self) -> None:
        _, entry = self._customers.popitem(last=False)
        self._order.remove(entry.seq)
        fold(self.evicted, entry)
        self.evicted_customers += 1
        walk = self.walk
        if walk is not None and walk.n != entry.mark:  # the walk took ``evicted`` before this one
            fold(walk.meters, entry)

    def customer(self, cid: str) -> Customer | None:
        return self._customers.get(cid)

    def page(self, after: int, limit: int) -> Page:
        """Up to ``limit`` customers admitted after sequence number ``after`` (0: from the first)."""
        got, more = self._order.after(after, limit)
        customers = [(cid, self._customers[cid]) for _, cid in got]
        return Page(customers, got[-1][0] if got else after, more)

    def next_slice(self, after: int, size: int) -> tuple[list[Customer], int, bool]:
        """For a walk: the next ``size`` customers' entries after ``after``, the last sequence
        number among them, and whether more follow."""
        got, more = self._order.after(after, size)
        customers = self._customers
        return [customers[cid] for _, cid in got], (got[-1][0] if got else after), more

    def header(self) -> dict[str, object]:
        """What every ``/usage`` answer starts with."""
        return {
            "since": datetime.fromtimestamp(self.since, UTC).isoformat(timespec="seconds"),
            "records": self.records,
            "replay": self.replay,
        }

    def snapshot(self, customer: str | None = None) -> dict[str, object]:
        """The whole state in one document, computed synchronously: for tests, the demo and tools
        in-process. O(customers): the admin listener never calls it without ``customer``
        (``/usage`` pages, and derives per-meter totals in slices)."""
        doc = self.header()
        if customer is not None:
            entry = self._customers.get(customer)
            doc["customers"] = {} if entry is None else {customer: entry.to_json()}
            return doc
        meters: dict[str, Tally] = {}
        fold(meters, self.evicted)
        for entry in self._customers.values():
            fold(meters, entry)
        doc["customers"] = {cid: e.to_json() for cid, e in self._customers.items()}
        doc["meters"] = {m: t.to_json() for m, t in meters.items()}
        return doc
