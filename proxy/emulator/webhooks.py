"""Webhook delivery for the local Lava: ``{event, data}`` JSON POSTed with ``X-Webhook-Signature``
(hex HMAC-SHA256 of the raw body, lava-api.md 5), from a bounded queue, with bounded retries,
never on the request path: ``submit`` only enqueues."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

log = logging.getLogger("lava_sidecar.emulator.webhooks")

SIGNATURE_HEADER = "X-Webhook-Signature"
EVENTS = ("customer.created", "customer.wallet.balance.updated", "customer.deleted")


def sign(body: bytes, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of the raw body: what ``X-Webhook-Signature`` carries."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(event: str, data: dict[str, object]) -> bytes:
    return json.dumps({"event": event, "data": data}, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Delivery:
    url: str
    secret: str = field(repr=False)
    body: bytes = field(repr=False)
    event: str = ""
    attempt: int = 0


@dataclass(slots=True)
class DeliveryStats:
    delivered: int = 0
    failed: int = 0      # gave up after the last attempt
    dropped: int = 0     # queue full: never attempted
    attempts: int = 0


def _where(url: str) -> str:
    # Never log a query string: receivers sometimes put tokens there.
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}{p.path}"


class WebhookDispatcher:
    """``submit`` from anywhere on the loop; ``cleanup_ctx`` (or ``start``/``close``) runs the
    workers. Attempts = 1 + ``len(retry_delays)``; a 2xx is success, anything else retries."""

    def __init__(self, *, queue_size: int = 1000, retry_delays: Sequence[float] = (1.0, 5.0, 30.0),
                 timeout: float = 5.0, workers: int = 2, drain_timeout: float = 2.0) -> None:
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=queue_size)
        self._delays = tuple(retry_delays)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._workers = workers
        self._drain_timeout = drain_timeout
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._session: aiohttp.ClientSession | None = None
        self.stats = DeliveryStats()

    def submit(self, delivery: Delivery) -> bool:
        """Enqueue; ``False`` (and counted) when the queue is full. Never blocks, never raises."""
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            log.warning("webhook queue full: dropped %s for %s", delivery.event,
                        _where(delivery.url))
            return False
        return True

    async def start(self) -> None:
        if self._tasks:
            return
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._tasks = [asyncio.create_task(self._work(), name=f"webhook-{i}")
                       for i in range(self._workers)]

    async def close(self) -> None:
        """Give queued deliveries ``drain_timeout`` to go out, then stop; pending retries are
        abandoned (they would have been at-least-once anyway)."""
        if self._tasks and not self._queue.empty():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), self._drain_timeout)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def cleanup_ctx(self, _app: web.Application) -> AsyncIterator[None]:
        await self.start()
        yield
        await self.close()

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._attempt(delivery)
            finally:
                self._queue.task_done()

    async def _attempt(self, d: Delivery) -> None:
        if self._session is None:  # pragma: no cover - workers only run after start()
            return
        self.stats.attempts += 1
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(d.body, d.secret),
                   "User-Agent": "lava-sidecar-emulator/webhooks"}
        status: int | str
        try:
            async with self._session.post(d.url, data=d.body, headers=headers,
                                          allow_redirects=False) as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = type(exc).__name__
        if isinstance(status, int) and 200 <= status < 300:
            self.stats.delivered += 1
            return
        if d.attempt < len(self._delays):
            delay = self._delays[d.attempt]
            log.info("webhook %s to %s failed (%s): retry in %.1fs", d.event, _where(d.url),
                     status, delay)
            self._retry_later(delay, dataclasses.replace(d, attempt=d.attempt + 1))
            return
        self.stats.failed += 1
        log.warning("webhook %s to %s failed (%s) after %d attempts: giving up", d.event,
                    _where(d.url), status, d.attempt + 1)

    def _retry_later(self, delay: float, d: Delivery) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            self.submit(d)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)
