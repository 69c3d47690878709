"""Wiring only: ``App.open(settings)`` builds what the sidecar is made of (the metering stack, the
outbound client to Lava, the request runtime and its seams) and ``aclose`` takes it down in reverse.

How it runs (listeners, signals, the drain) is ``lifecycle``'s job; what a request does is the
pipeline's. A feature that joins the request path is built here and handed to ``Runtime`` as an
admission or completion hook (``pipeline/seams.py``). ``reload`` applies what may change while
serving (``RELOADABLE``); the rest of a new configuration waits for a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from aiohttp import web
from prometheus_client import CollectorRegistry

from .accesslog import AccessLog
from .admin import create_admin_app
from .bounds import BoundsMetrics
from .config import Settings
from .gateway import make_client
from .identity import IdentityResolver
from .metering import Recorder
from .pipeline import Runtime
from .prices.refresh import PriceCatalog
from .quotas.hooks import Quotas

if TYPE_CHECKING:
    from .tracing.spans import Tracer

#: How long ``aclose`` waits for cancelled handlers to record before the usage log closes.
_UNWIND_SECONDS: Final = 1.0
#: What a reload changes while serving: limits change more often than deployments do.
RELOADABLE: Final = ("quotas", "identity.api_keys")


@dataclass(slots=True, eq=False)
class App:
    """The sidecar's parts, open. ``registry`` is injected (never prometheus_client's global one)."""

    settings: Settings
    registry: CollectorRegistry
    recorder: Recorder
    runtime: Runtime
    quotas: Quotas
    #: Client timeouts and the body buffer (``proxy.bounds``); the inbound server counts into it.
    bounds: BoundsMetrics
    replay: asyncio.Task[int] | None = None
    #: Lists Lava's meters into the recorder's pricing in the background (``pricing.from_lava``).
    prices: PriceCatalog | None = None
    #: Spans to an OTLP collector, when tracing is configured (``tracing/``); None: off, no hook.
    tracer: Tracer | None = None

    @classmethod
    async def open(cls, settings: Settings, *, registry: CollectorRegistry | None = None) -> App:
        registry = registry if registry is not None else CollectorRegistry()
        recorder = await Recorder.open(settings, registry)
        gateway = make_client(settings.gateway, on_retry=recorder.metrics.connect_retry)
        rt = Runtime.build(settings, recorder, gateway)
        if settings.logging.access_log:
            rt.completion = (*rt.completion, AccessLog(settings.logging.format))
        rt.usage_log_healthy = recorder.usage_log_healthy
        recorder.metrics.watch(
            inflight_requests=lambda: rt.inflight.requests,
            inflight_streams=lambda: rt.inflight.streams,
            ready=lambda: rt.readiness.ready,
        )
        quotas = Quotas(registry, max_customers=settings.metrics.max_customers,
                        customer_label=settings.metrics.customer_label, pricing=recorder.pricing)
        # Ready once the quota backend answered (bounded: redisstore.READY_SECONDS).
        rt.readiness.waits.append(quotas.waiting)
        try:
            await gateway.start()
            app = cls(settings, registry, recorder, rt, quotas, BoundsMetrics(registry, rt.body_budget))
            await app._apply_quotas(settings)
            app.tracer = _tracer(settings, registry, rt)
        except BaseException:
            await quotas.aclose()
            await gateway.aclose()
            await recorder.aclose()
            raise
        if settings.pricing.from_lava:
            # Alongside serving: until the first listing, meters not in ``meters:`` are charged null.
            app.prices = PriceCatalog(settings.pricing, recorder.pricing,
                                      base_url=settings.gateway.url,
                                      secret_key=settings.secret_key, registry=registry)
            app.prices.start()
        # Serving starts now; the history replays alongside (it can take seconds for large logs).
        app.replay = asyncio.create_task(app._replay(), name="usage-log-replay")
        return app

    async def _replay(self) -> int:
        # The history is priced like live traffic: with Lava's catalog once its first listing ended.
        if self.prices is not None:
            await self.prices.tried.wait()
        return await self.recorder.replay_log()

    async def _apply_quotas(self, settings: Settings) -> None:
        hooks = await self.quotas.apply(settings.quotas)
        if hooks is not None:
            rt = self.runtime
            # Quotas admit first (a refusal should cost nothing else) and complete last.
            rt.admission = (hooks, *rt.admission)
            rt.completion = (*rt.completion, hooks)

    async def reload(self, new: Settings) -> list[str]:
        """Apply a new, already validated configuration's reloadable parts (``RELOADABLE``) at once.
        Returns the other sections that differ: they take effect at the next restart."""
        rt, old = self.runtime, self.runtime.settings
        await self._apply_quotas(new)
        if new.identity.api_keys != old.identity.api_keys:
            identity = replace(old.identity, api_keys=new.identity.api_keys)
            rt.identity = IdentityResolver(identity)
        else:
            identity = old.identity
        rt.settings = replace(old, quotas=new.quotas, identity=identity)
        later = [f.name for f in dataclasses.fields(new)
                 if f.name not in ("quotas", "identity") and getattr(new, f.name) != getattr(old, f.name)]
        if replace(new.identity, api_keys=()) != replace(old.identity, api_keys=()):
            later.append("identity")
        return later

    def admin(self) -> web.Application:
        """The admin listener's app: /metrics, /healthz, /readyz, /usage."""
        return create_admin_app(self.registry, self.recorder.totals, self.runtime.readiness)

    async def aclose(self) -> None:
        """Call after the last request has ended: nothing more can be recorded, so flushing the
        usage log now loses nothing."""
        if self.prices is not None:
            await self.prices.aclose()
        if self.replay is not None:
            self.replay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.replay
        # Handlers cancelled just before still record as they unwind: a moment for them first.
        await self.runtime.inflight.idle(_UNWIND_SECONDS)
        if self.tracer is not None:
            # The last spans were queued as the handlers recorded; flush them within the grace.
            await asyncio.to_thread(self.tracer.shutdown, min(self.settings.shutdown.grace,
                                                              self.settings.tracing.export_timeout))
        await self.quotas.aclose()
        await self.runtime.gateway.aclose()
        await self.recorder.aclose()


def _tracer(settings: Settings, registry: CollectorRegistry, rt: Runtime) -> Tracer | None:
    """Tracing joins both seams when configured (after the quota check: a refusal is traced at
    completion all the same); off, nothing is imported or installed at all."""
    if not settings.tracing.enabled:
        return None
    from .tracing.spans import TRACE_HEADERS, Tracer

    tracer = Tracer.open(settings.tracing, registry, gateway_url=settings.gateway.url)
    rt.admission = (*rt.admission, tracer)
    rt.completion = (tracer, *rt.completion)
    # The caller's trace headers are consumed: Lava gets the sidecar's client span instead.
    rt.control_headers = rt.control_headers | TRACE_HEADERS
    return tracer
