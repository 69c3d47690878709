"""Per-meter and overall totals derived from the per-customer tallies at read time, in slices that
yield to the event loop: the part of ``/usage`` that is O(customers).

A walk visits the customers a slice at a time (``SLICE``, ~1-2 ms of work each), starting from the
``evicted`` aggregate as it was when the walk began. While it yields, traffic goes on: a record for
a customer the walk has counted is added to the walk too, a customer evicted before the walk
reached it is folded into the walk, and a customer admitted meanwhile counts as reached (its
records arrive through the first rule); so the result equals the totals at the instant the walk
ends. Concurrent readers share one walk (single flight), and a result serves every reader for
``MAX_AGE`` seconds: a dashboard polling ``/usage`` costs at most one walk a second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Final

from .tally import Tally, fold, merged
from .totals import Totals, Walk

#: Customers per slice between two yields to the loop.
SLICE: Final = 500
#: Seconds one walk's result is served before the next read walks again.
MAX_AGE: Final = 1.0


@dataclass(frozen=True, slots=True)
class MeterView:
    """Per-meter totals (evicted customers included), their sum, and the ``evicted`` aggregate, all
    as of ``records`` records."""

    meters: dict[str, Tally]
    total: Tally
    evicted: dict[str, Tally]
    evicted_customers: int
    records: int
    at: float

    def to_json(self) -> dict[str, object]:
        return {
            "total": self.total.to_json(),
            "meters": {m: t.to_json() for m, t in self.meters.items()},
            "evicted": {"customers": self.evicted_customers,
                        "total": merged(self.evicted).to_json(),
                        "meters": {m: t.to_json() for m, t in self.evicted.items()}},
        }


class MeterViews:
    """Serves ``MeterView``s of one ``Totals``: cached ``MAX_AGE``, one walk at a time."""

    __slots__ = ("_clock", "_max_age", "_pending", "_slice", "_totals", "_view")

    def __init__(self, totals: Totals, *, slice_size: int = SLICE, max_age: float = MAX_AGE) -> None:
        self._totals = totals
        self._slice = slice_size
        self._max_age = max_age
        self._clock = time.monotonic
        self._view: MeterView | None = None
        self._pending: asyncio.Future[MeterView] | None = None

    async def get(self) -> MeterView:
        view = self._view
        if view is not None and self._clock() - view.at < self._max_age:
            return view
        if self._pending is None:
            task = asyncio.ensure_future(self._walk())
            self._pending = task
            task.add_done_callback(self._done)
        # Shielded: a reader that leaves does not cancel the walk the others wait for.
        return await asyncio.shield(self._pending)

    def _done(self, task: asyncio.Future[MeterView]) -> None:
        self._pending = None
        if not task.cancelled() and task.exception() is None:
            self._view = task.result()

    async def _walk(self) -> MeterView:
        totals = self._totals
        totals.walks += 1
        walk = Walk(totals.walks, totals.evicted)
        totals.walk = walk
        try:
            after, more = 0, True
            while more:
                entries, after, more = totals.next_slice(after, self._slice)
                for entry in entries:
                    if entry.mark != walk.n:
                        entry.mark = walk.n
                        fold(walk.meters, entry)
                if more:
                    await asyncio.sleep(0)
        finally:
            totals.walk = None
        evicted: dict[str, Tally] = {}
        fold(evicted, totals.evicted)
        return MeterView(walk.meters, merged(walk.meters), evicted, totals.evicted_customers,
                         totals.records, self._clock())
