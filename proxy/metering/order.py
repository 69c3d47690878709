"""The admission order of ``/usage``'s customers: what its pages walk. Pure.

Customers are kept least-recently-seen first for eviction, an order every request changes; a page
walk needs one that does not. Each customer gets a sequence number when it is admitted (first seen,
or seen again after its eviction), and pages go by that number: a walk sees every customer that
stays admitted exactly once, whatever traffic does meanwhile, and the customers admitted during
the walk at its end. Two parallel lists, appended in order, so a page starts with one bisection;
an eviction leaves a tombstone, swept when they are half the lists (amortised O(1)).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import compress
from typing import Final

#: Tombstones tolerated before a sweep is worth it at all.
_MIN_SWEEP: Final = 1024


class AdmissionOrder:
    """Customer ids by admission sequence number; ``remove`` on eviction."""

    __slots__ = ("_dead", "_ids", "_seqs")

    def __init__(self) -> None:
        self._seqs: list[int] = []
        self._ids: list[str | None] = []
        self._dead = 0

    def __len__(self) -> int:
        return len(self._seqs) - self._dead

    def append(self, seq: int, cid: str) -> None:
        """``seq`` must be larger than every one appended before."""
        self._seqs.append(seq)
        self._ids.append(cid)

    def remove(self, seq: int) -> None:
        i = bisect_left(self._seqs, seq)
        if i < len(self._seqs) and self._seqs[i] == seq and self._ids[i] is not None:
            self._ids[i] = None
            self._dead += 1
            if self._dead >= _MIN_SWEEP and 2 * self._dead >= len(self._seqs):
                self._sweep()

    def after(self, seq: int, limit: int) -> tuple[list[tuple[int, str]], bool]:
        """Up to ``limit`` (sequence, id) pairs admitted after ``seq``, in order, and whether more
        follow. Costs the page plus the tombstones it steps over (at most half the lists)."""
        out: list[tuple[int, str]] = []
        seqs, ids = self._seqs, self._ids
        i, n = bisect_right(seqs, seq), len(seqs)
        while i < n:
            cid = ids[i]
            if cid is not None:
                if len(out) == limit:
                    return out, True
                out.append((seqs[i], cid))
            i += 1
        return out, False

    def _sweep(self) -> None:
        # C-speed but for one pass (the merchant's id is "", so ids cannot select themselves).
        keep = [c is not None for c in self._ids]
        self._seqs = list(compress(self._seqs, keep))
        self._ids = list(compress(self._ids, keep))
        self._dead = 0
