"""Sliding-window counter arithmetic, pure: the memory store runs it, the Redis Lua script mirrors it.

A window of length ``W`` is kept as two adjacent fixed windows: ``cur`` (the one ``now`` is in) and
``prev`` (the one before). The estimate of what was used in the last ``W`` is
``prev * (1 - f) + cur`` with ``f`` the fraction of the current window elapsed. A customer that used
its whole limit at the end of one window therefore gets nothing at the start of the next, and its
allowance comes back linearly: no 2x burst at a boundary, O(1) state per key (docs/quotas.md).

Times are milliseconds; windows are aligned to multiples of ``W`` since the epoch, so every replica
(and Redis' ``TIME``) agree on which window ``now`` is in.
"""

from __future__ import annotations

import math


def roll(now_ms: float, window_ms: int, widx: int, cur: float, prev: float) -> tuple[int, float, float]:
    """The state ``(idx, cur, prev)`` as of ``now_ms`` given a stored ``(widx, cur, prev)``."""
    idx = int(now_ms // window_ms)
    if widx == idx:
        return idx, cur, prev
    if widx == idx - 1:
        return idx, 0.0, cur
    return idx, 0.0, 0.0


def estimate(now_ms: float, window_ms: int, idx: int, cur: float, prev: float) -> float:
    f = (now_ms - idx * window_ms) / window_ms
    return prev * (1.0 - f) + cur


def retry_ms(now_ms: float, window_ms: int, idx: int, cur: float, prev: float, target: float,
             strict: bool) -> int:
    """Milliseconds until the estimate falls to ``target`` (``<`` it if ``strict``) with no new use.

    Inside the current window only ``prev``'s share decays; if ``cur`` alone is over the target the
    wait runs into the next window, where the old ``cur`` decays in turn. ``target < 0`` (a limit
    of 0) never frees: one window is the honest answer.
    """
    if target < 0 or (strict and target <= 0):
        return window_ms
    f = (now_ms - idx * window_ms) / window_ms
    if prev > 0 and cur <= target:
        wait = ((1.0 - (target - cur) / prev) - f) * window_ms
    else:
        wait = (1.0 - f) * window_ms + (1.0 - target / cur) * window_ms if cur > 0 else 0.0
    return max(1, math.ceil(wait) + (1 if strict else 0))


def unreserve(window_ms: int, idx: int, cur: float, prev: float, admitted_ms: float,
              amount: float) -> tuple[float, float]:
    """``(cur, prev)`` with ``amount`` taken back out of the half it was added to at ``admitted_ms``.

    A reservation made in the current window comes out of ``cur``; one made in the window before
    (the request ran across the turn) out of ``prev``, where it now only counts its decaying share;
    an older one has left the estimate already. Never below zero (a store that restarted empty in
    between no longer holds it).
    """
    at = int(admitted_ms // window_ms)
    if at == idx:
        return max(0.0, cur - amount), prev
    if at == idx - 1:
        return cur, max(0.0, prev - amount)
    return cur, prev
