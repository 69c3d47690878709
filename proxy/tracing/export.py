"""Finished spans (already encoded, ``otlp.span``) → the collector, in batches, from one thread.

The queue is bounded (``max_queue_size``): a span that finds it full is dropped and counted, so a
collector that is down or slow never blocks a request and never grows memory beyond the queue and
the one batch being sent. A batch the transport could not deliver (after its retries, within
``export_timeout``) is dropped and counted too. ``shutdown`` flushes what is queued within a
deadline, then abandons the rest (counted). The event loop only ever appends to a deque.

The SDK's ``BatchSpanProcessor`` does the same job, but logs a warning for every span it drops and
counts drops only in its own meter, not where the sidecar's metrics are scraped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..logthrottle import ThrottledLog
from .otlp import export_request

log = logging.getLogger("lava_sidecar.tracing")

DROP_REASONS: Final = ("queue_full", "export_failed", "shutdown")


class Exporter(Protocol):
    """``transport.OtlpHttp``: ``export`` an ``ExportTraceServiceRequest``, true when delivered."""

    def export(self, body: bytes) -> bool: ...

    def shutdown(self) -> None: ...


class SpanMetrics:
    __slots__ = ("dropped", "exported")

    def __init__(self, registry: CollectorRegistry, queued: Callable[[], float]) -> None:
        exported = Counter("lava_sidecar_trace_spans_exported_total",
                           "Spans the OTLP collector accepted.", registry=registry)
        dropped = Counter("lava_sidecar_trace_spans_dropped_total",
                          "Spans not delivered: the export queue was full, the collector failed or "
                          "did not answer within the export timeout, or shutdown's flush ran out of time.",
                          ("reason",), registry=registry)
        Gauge("lava_sidecar_trace_queue_spans", "Spans waiting to be exported.",
              registry=registry).set_function(queued)
        self.exported = exported
        self.dropped = {r: dropped.labels(r) for r in DROP_REASONS}


class SpanBatcher:
    """Bounded queue + one daemon thread that exports full batches at once, others every
    ``schedule_delay`` seconds."""

    def __init__(self, exporter: Exporter, registry: CollectorRegistry, *, resource: bytes, scope: bytes,
                 max_queue_size: int, max_export_batch_size: int, schedule_delay: float) -> None:
        self._exporter = exporter
        self._resource, self._scope = resource, scope
        self._max = max_queue_size
        self._batch = max_export_batch_size
        self._delay = schedule_delay
        self._queue: deque[bytes] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._abandoned = False
        self._failures = ThrottledLog(log, interval=60.0)
        self.metrics = SpanMetrics(registry, lambda: float(len(self._queue)))
        self._full = self.metrics.dropped["queue_full"]
        self._thread = threading.Thread(target=self._run, name="lava-sidecar-trace-export", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, span: bytes) -> None:
        """On the event loop: O(1), never blocks."""
        queue = self._queue
        if len(queue) >= self._max:
            self._full.inc()
            return
        if self._stopping:  # a handler cut at the very end of the shutdown, after the flush began
            self.metrics.dropped["shutdown"].inc()
            return
        queue.append(span)
        if len(queue) == self._batch:
            self._wake.set()

    def _run(self) -> None:
        queue = self._queue
        while True:
            self._wake.wait(self._delay)
            self._wake.clear()
            # A full batch goes at once; a partial one waits for the delay (or the shutdown).
            while queue and not self._abandoned:
                batch = self._take()
                if batch:
                    self._export(batch)
                if not self._stopping and len(queue) < self._batch:
                    break
            if self._stopping and (not queue or self._abandoned):
                return

    def _take(self) -> list[bytes]:
        batch: list[bytes] = []
        queue = self._queue
        try:
            while len(batch) < self._batch:
                batch.append(queue.popleft())
        except IndexError:  # emptied (or cleared by an abandoning shutdown)
            pass
        return batch

    def _export(self, batch: list[bytes]) -> None:
        try:
            ok = self._exporter.export(export_request(self._resource, self._scope, batch))
        except Exception:  # a transport bug: the spans are lost, the thread is not
            ok = False
        if ok:
            self.metrics.exported.inc(len(batch))
            return
        self.metrics.dropped["export_failed"].inc(len(batch))
        self._failures.log(logging.WARNING, "trace export failed: spans dropped (the collector is "
                           "down, slow or refusing; lava_sidecar_trace_spans_dropped_total counts them)",
                           extra={"spans": len(batch)})

    def shutdown(self, timeout: float) -> None:
        """Export what is queued, for at most ``timeout`` seconds; what is left is dropped. Blocking:
        run it off the event loop."""
        deadline = time.monotonic() + timeout
        self._stopping = True
        self._wake.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._abandoned = True
        left = 0
        try:  # each span is popped by one thread only: none is counted twice
            while True:
                self._queue.popleft()
                left += 1
        except IndexError:
            pass
        if left:
            self.metrics.dropped["shutdown"].inc(left)
        # Ends a retry backoff in progress; a request on the wire ends at its own timeout (the
        # thread is a daemon: it never holds the process).
        self._exporter.shutdown()
