"""The in-process quota store: exact within one process, no I/O, a few dict operations per request.

Everything runs on the event-loop thread with no ``await`` between check and count, so admission is
atomic by construction. An admission counts the request, takes its slot and adds its reservation
(estimated tokens and spend) to those windows; ``settle`` replaces the reservation by the real
amount and frees the slot: the same arithmetic as the Redis script. Idle keys are swept when the
table grows past a bound, so a stream of one-off customer ids cannot grow memory without limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .policy import CONCURRENCY, REQUESTS, SPEND, TOKENS, Check, Refusal, Settlement
from .window import estimate, retry_ms, roll, unreserve

#: Keys kept before idle ones (windows two old, no request in flight) are swept.
SWEEP_AT: Final = 100_000
#: A concurrency refusal cannot know when a slot frees; the SDKs retry after this.
CONCURRENCY_RETRY_MS: Final = 1000


class MemoryStore:
    __slots__ = ("_inflight", "_windows")

    def __init__(self) -> None:
        self._windows: dict[str, list[float]] = {}  # key -> [idx, cur, prev, window_ms]
        self._inflight: dict[str, int] = {}

    def admit(self, checks: Sequence[Check], now_ms: float, tokens: int = 0,
              micro_usd: int = 0) -> Refusal | None:
        """Refusal with the longest wait, or ``None`` and the request, its slot and its reservation
        (``tokens``, ``micro_usd``) are counted."""
        windows, inflight = self._windows, self._inflight
        worst: Refusal | None = None
        for c in checks:
            if c.kind == CONCURRENCY:
                if inflight.get(c.key, 0) + 1 > c.limit and (worst is None
                                                            or worst.retry_ms < CONCURRENCY_RETRY_MS):
                    worst = Refusal(c, CONCURRENCY_RETRY_MS)
                continue
            st = windows.get(c.key)
            idx, cur, prev = roll(now_ms, c.window_ms, int(st[0]), st[1], st[2]) if st else (
                int(now_ms // c.window_ms), 0.0, 0.0)
            est = estimate(now_ms, c.window_ms, idx, cur, prev)
            if c.kind == REQUESTS:
                ok, target, strict = est + 1 <= c.limit, c.limit - 1, False
            else:  # tokens and spend: refused while at or over the window's limit
                ok, target, strict = est < c.limit, c.limit, True
            if not ok:
                wait = retry_ms(now_ms, c.window_ms, idx, cur, prev, target, strict)
                if worst is None or worst.retry_ms < wait:
                    worst = Refusal(c, wait)
        if worst is not None:
            return worst
        for c in checks:
            if c.kind == CONCURRENCY:
                inflight[c.key] = inflight.get(c.key, 0) + 1
            elif c.kind == REQUESTS:
                self._add(c, 1, now_ms)
            elif c.kind == TOKENS:
                if tokens > 0:
                    self._add(c, tokens, now_ms)
            elif micro_usd > 0:
                self._add(c, micro_usd, now_ms)
        if len(windows) + len(inflight) > SWEEP_AT:
            self.sweep(now_ms)
        return None

    def settle(self, s: Settlement, now_ms: float) -> None:
        """Free the slot; replace each reservation by the real amount."""
        for c in s.checks:
            if c.kind == CONCURRENCY:
                if s.release:
                    n = self._inflight.get(c.key, 0) - 1
                    if n > 0:
                        self._inflight[c.key] = n
                    else:
                        self._inflight.pop(c.key, None)
            elif c.kind == TOKENS:
                self._replace(c, s.tokens, s.tokens_reserved, s.admitted_ms, now_ms)
            elif c.kind == SPEND:
                self._replace(c, s.micro_usd, s.micro_usd_reserved, s.admitted_ms, now_ms)

    def _replace(self, c: Check, amount: int, reserved: int, admitted_ms: float, now_ms: float) -> None:
        if reserved > 0:
            st = self._windows.get(c.key)
            if st is not None:
                idx, cur, prev = roll(now_ms, c.window_ms, int(st[0]), st[1], st[2])
                cur, prev = unreserve(c.window_ms, idx, cur, prev, admitted_ms, reserved)
                st[0], st[1], st[2] = idx, cur, prev
        if amount > 0:
            self._add(c, amount, now_ms)

    def _add(self, c: Check, amount: float, now_ms: float) -> None:
        st = self._windows.get(c.key)
        if st is None:
            self._windows[c.key] = [now_ms // c.window_ms, float(amount), 0.0, c.window_ms]
            return
        idx, cur, prev = roll(now_ms, c.window_ms, int(st[0]), st[1], st[2])
        st[0], st[1], st[2] = idx, cur + amount, prev

    def sweep(self, now_ms: float) -> None:
        """Drop windows whose both halves are over; in-flight entries only leave when released."""
        stale = [k for k, st in self._windows.items() if st[0] < now_ms // st[3] - 1]
        for k in stale:
            del self._windows[k]

    def inflight(self, key: str) -> int:
        return self._inflight.get(key, 0)
