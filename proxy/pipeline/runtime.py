"""What a request needs from the running sidecar, built once from the settings: the pure parts
(router, identity, tokens), the outbound client, the sink and the seams, plus live counts."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from ..bounds import BodyBudget
from ..config import Settings
from ..errors import ShuttingDown
from ..gateway import UpstreamClient
from ..identity import CLIENT_HEADER, IdentityResolver
from ..record import RequestRecord
from ..routing import Router
from ..tokens import TokenCache
from .seams import AdmissionHook, CompletionHook

log = logging.getLogger("lava_sidecar.pipeline")


class Sink(Protocol):
    """Takes each finished request exactly once; never blocks, never raises (``Recorder``). Returns
    the request's charge estimate, for the completion hooks (a spend quota, a span)."""

    def record(self, rec: RequestRecord) -> Decimal | None: ...


class RequestIds:
    """Unique request ids without a syscall per request: a random process prefix plus a counter."""

    __slots__ = ("_n", "_prefix")

    def __init__(self) -> None:
        self._prefix = "sc_" + os.urandom(6).hex()
        self._n = 0

    def next(self) -> str:
        self._n += 1
        return f"{self._prefix}{self._n:08x}"


#: The cancel message that tells a handler the shutdown grace is over (not a client that left).
SHUTDOWN_CUT = "lava-sidecar: the shutdown grace ended"


@dataclass(slots=True)
class Inflight:
    """Live counts, read by the metrics as callback gauges; and the running handlers, so a
    shutdown can end them in their API's shape when the grace is over."""

    requests: int = 0
    streams: int = 0
    tasks: set[asyncio.Task[object]] = field(default_factory=set)

    def enter(self) -> asyncio.Task[object] | None:
        """A request starts in the current task (the shutdown can end it in its API's shape)."""
        self.requests += 1
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        return task

    def leave(self, task: asyncio.Task[object] | None) -> None:
        self.requests -= 1
        if task is not None:
            self.tasks.discard(task)

    async def idle(self, seconds: float) -> None:
        """Until no request is in flight, for at most ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        # Polled: a per-request "now idle" signal would cost every request for this one moment.
        while True:
            left = deadline - loop.time()
            if not self.requests or left <= 0:
                return
            await asyncio.sleep(min(0.05, left))

    def cut(self) -> int:
        """End every running handler (``SHUTDOWN_CUT``); returns how many there were."""
        for task in self.tasks:
            task.cancel(SHUTDOWN_CUT)
        return len(self.tasks)


def is_shutdown_cut(exc: asyncio.CancelledError) -> bool:
    return exc.args[:1] == (SHUTDOWN_CUT,)


def shutting_down() -> ShuttingDown:
    return ShuttingDown("The sidecar is shutting down and its grace period (shutdown.grace_seconds) "
                        "ended before this request finished; retry it.")


def uncancel() -> None:
    """A handler that answers a shutdown cut itself takes the cancellation back (asyncio's rule)."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


@dataclass(slots=True)
class Readiness:
    """Ready once started and every part it waits for has answered (each wait is bounded by its
    owner: the quota backend's first answer); not ready again from the moment draining begins."""

    started: bool = False
    draining: bool = False
    #: What readiness waits for besides start: each says what it waits for, or None once done.
    waits: list[Callable[[], str | None]] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.reason() is None

    def reason(self) -> str | None:
        """Why not ready (for /readyz's body), or None."""
        if self.draining:
            return "draining"
        if not self.started:
            return "starting"
        for wait in self.waits:
            if (why := wait()) is not None:
                return why
        return None


def _never_fails() -> bool:
    return True


@dataclass(slots=True)
class Runtime:
    settings: Settings
    router: Router
    identity: IdentityResolver
    tokens: TokenCache
    gateway: UpstreamClient
    sink: Sink
    #: Lower-case names of the sidecar's own control headers, consumed, never forwarded.
    control_headers: frozenset[str]
    #: Request bodies held in memory, capped (limits.max_buffered_body_bytes).
    body_budget: BodyBudget
    ids: RequestIds = field(default_factory=RequestIds)
    inflight: Inflight = field(default_factory=Inflight)
    readiness: Readiness = field(default_factory=Readiness)
    #: False while the usage log cannot be written (``usage_log.on_error`` decides what happens).
    usage_log_healthy: Callable[[], bool] = _never_fails
    #: The seams (``seams.py``): run for every request, in this order.
    admission: tuple[AdmissionHook, ...] = ()
    completion: tuple[CompletionHook, ...] = ()
    _hook_failures: int = 0
    _control_raw: tuple[frozenset[str], frozenset[bytes]] | None = field(
        default=None, init=False, repr=False)

    @property
    def control_raw(self) -> frozenset[bytes]:
        """``control_headers`` as the bytes the header policy compares (made again only when the
        set is replaced: tracing adds its headers once, at start)."""
        cached = self._control_raw
        if cached is None or cached[0] is not self.control_headers:
            raw = frozenset(n.lower().encode("latin-1", "replace") for n in self.control_headers)
            cached = self._control_raw = (self.control_headers, raw)
        return cached[1]

    def hook_failed(self, hook: CompletionHook) -> None:
        """A completion hook raised: the request was served and recorded; log it (rarely)."""
        self._hook_failures += 1
        # Once, then at 2, 4, 8, …: a bug on every request must not flood the log.
        if self._hook_failures & (self._hook_failures - 1) == 0:
            log.exception("completion hook %s failed (%d failures so far)",
                          type(hook).__name__, self._hook_failures)

    @classmethod
    def build(cls, settings: Settings, sink: Sink, gateway: UpstreamClient) -> Runtime:
        ident = settings.identity
        return cls(
            settings=settings,
            router=Router(settings),
            identity=IdentityResolver(ident),
            tokens=TokenCache(settings.secret_key),
            gateway=gateway,
            sink=sink,
            control_headers=frozenset({ident.customer_header, ident.meter_header,
                                       ident.metadata_header, CLIENT_HEADER}),
            body_budget=BodyBudget(settings.bounds.max_buffered_body_bytes,
                                   settings.bounds.buffer_wait),
        )
