"""The shared quota store on Redis: one EVALSHA per admission, per completion, per lease heartbeat.

A thin I/O shell around ``scripts``: it builds key and argument lists and decodes the replies.
Timeouts and the failure policy belong to the gate; this module raises whatever redis-py raises.
The ``redis`` package is an optional extra (``lava-sidecar[redis]``), imported only here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from ..secret import Secret
from . import scripts
from .policy import CONCURRENCY, Check, Refusal

#: Connections per process: admissions are short scripts, so a few dozen carry thousands per second;
#: the bound keeps a stalled Redis from collecting one socket per waiting request.
MAX_CONNECTIONS = 64


class RedisStore:
    def __init__(self, url: Secret, timeout_s: float, *,
                 clock_ms: Callable[[], float] | None = None) -> None:
        # One retry, for connection errors only: after a Redis restart every pooled connection is
        # dead and the first command on each would fail; a timeout is never retried (the budget).
        # A blocking pool: past MAX_CONNECTIONS an admission waits for a connection (within the
        # gate's timeout) instead of failing at once with "too many connections".
        pool = BlockingConnectionPool.from_url(
            url.reveal(), max_connections=MAX_CONNECTIONS, timeout=timeout_s,
            socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)))
        self.client: Redis = Redis.from_pool(pool)
        self._admit = self.client.register_script(scripts.ADMIT)
        self._complete = self.client.register_script(scripts.COMPLETE)
        self._renew = self.client.register_script(scripts.RENEW)
        self._clock_ms = clock_ms

    def _now(self) -> str:
        return "" if self._clock_ms is None else str(int(self._clock_ms()))

    async def ping(self) -> None:
        await self.client.ping()

    async def admit(self, checks: Sequence[Check], lease_id: str, lease_ttl_ms: int) -> Refusal | None:
        args: list[Any] = [self._now(), lease_ttl_ms, lease_id]
        for c in checks:
            args += (c.kind, c.limit, c.window_ms)
        reply = await self._admit(keys=[c.key for c in checks], args=args)
        if int(reply[0]) == 1:
            return None
        return Refusal(checks[int(reply[1]) - 1], int(reply[2]))

    async def complete(self, windows: Sequence[tuple[Check, int]], leases: Sequence[Check],
                       lease_id: str) -> None:
        args: list[Any] = [self._now(), len(windows), lease_id]
        for c, amount in windows:
            args += (amount, c.window_ms)
        await self._complete(keys=[c.key for c, _ in windows] + [c.key for c in leases], args=args)

    async def renew(self, leases: Sequence[tuple[str, str]], lease_ttl_ms: int) -> None:
        """``leases``: (sorted-set key, lease id) pairs this process still holds."""
        await self._renew(keys=[k for k, _ in leases],
                          args=[self._now(), lease_ttl_ms, *(lease for _, lease in leases)])

    async def aclose(self) -> None:
        await self.client.aclose()


def lease_keys(checks: Sequence[Check]) -> list[str]:
    return [c.key for c in checks if c.kind == CONCURRENCY]
