"""The measurement plan and its phases, interleaved: every round runs each phase on every target in turn.

Interleaving (phase by phase, target order rotated each round) spreads the VM's CPU-steal
episodes over all targets alike; figures are per round, and the report takes medians.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvloop

from . import payloads, procfs, stream_cpu, streams
from .loadgen import LoadResult, h2load
from .stats import percentile, rounded
from .targets import Target
from .vmstat import VmstatLog


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: int
    n_c1: int  # requests per round at concurrency 1 (low load)
    n_load: int  # requests per round at ``load_c`` (CPU per request, requests/s, moderate load)
    load_c: int
    streams: int  # paced SSE streams per round
    stream_c: int
    hold: int  # streams held open together in the memory phase
    hold_timeout: float
    warmup: int
    interval: float  # the fake's pacing between stream chunks
    #: Streams per round in the stream-CPU phase (64 chunks paced ``fast_interval``, ``stream_c``
    #: at a time): CPU per streamed chat completion and per chunk.
    cpu_streams: int = 512
    fast_interval: float = 0.002
    #: Streams per round in the Gemini stream-CPU phase: the same 64 tokens as Gemini's
    #: ``streamGenerateContent?alt=sse`` chunks, paced and in flight as ``cpu_streams``.
    gemini_streams: int = 512

    @classmethod
    def full(cls) -> Plan:
        return cls(rounds=3, n_c1=2000, n_load=20000, load_c=32, streams=64, stream_c=16,
                   hold=1000, hold_timeout=60.0, warmup=500, interval=0.020)

    @classmethod
    def smoke(cls) -> Plan:
        return cls(rounds=1, n_c1=50, n_load=500, load_c=32, streams=8, stream_c=8,
                   hold=50, hold_timeout=20.0, warmup=20, interval=0.020, cpu_streams=32,
                   gemini_streams=32)


def _run(coro: Any) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _scaled(n: int, t: Target, floor: int) -> int:
    return n if t.scale >= 1 else max(min(n, floor), math.ceil(n * t.scale))


def _ms(us: float | None) -> float | None:
    return rounded(None if us is None else us / 1000.0)


@dataclass
class Runner:
    """Runs phases against targets, charging CPU to their PIDs; ``upstream_pids`` is the fake."""

    plan: Plan
    upstream_pids: list[int]
    vm: VmstatLog

    def load(self, t: Target, n: int, c: int) -> LoadResult:
        t.sent += n
        return h2load(t.url(), n=n, c=c, body=payloads.request_body(stream=False), headers=t.headers,
                      pids=t.pids(), upstream_pids=self.upstream_pids,
                      timeout=max(60.0, n / (t.scale * 500.0)))

    def c1(self, t: Target) -> dict[str, Any]:
        r = self.load(t, _scaled(self.plan.n_c1, t, 50), 1)
        return {"n": r.n, "errors": r.errors, "rps": round(r.rps, 1),
                "p50_ms": _ms(percentile(r.latencies_us, 50)),
                "p99_ms": _ms(percentile(r.latencies_us, 99))}

    def loaded(self, t: Target) -> dict[str, Any]:
        r = self.load(t, _scaled(self.plan.n_load, t, 200), self.plan.load_c)
        return {"n": r.n, "c": self.plan.load_c, "errors": r.errors, "rps": round(r.rps, 1),
                "p50_ms": _ms(percentile(r.latencies_us, 50)),
                "p99_ms": _ms(percentile(r.latencies_us, 99)),
                "cpu_us_per_req": round(r.cpu_s * 1e6 / r.n, 1) if t.is_proxy else None,
                "cpu_ticks": round(r.cpu_s * procfs.CLK_TCK),
                "upstream_cpu_us_per_req": round(r.upstream_cpu_s * 1e6 / r.n, 1)}

    def streams(self, t: Target) -> dict[str, Any]:
        n = _scaled(self.plan.streams, t, 8)
        t.sent += n
        batch: streams.StreamBatch = _run(streams.run_streams(
            t.port, t.path, t.headers, payloads.request_body(stream=True), count=n,
            concurrency=self.plan.stream_c, spacing=64 * self.plan.interval / self.plan.stream_c,
            time_limit=30.0 + 64 * self.plan.interval * 4))
        results = batch.results
        problems: dict[str, int] = {}
        ttfb, gaps = [], []
        for r in results:
            if (p := r.problem()) is not None:
                problems[p] = problems.get(p, 0) + 1
                continue
            if r.ttfb_s is not None:
                ttfb.append(r.ttfb_s * 1e6)
            gaps += [(b - a) * 1e6 for a, b in itertools.pairwise(r.event_times)]
        held, held_client = streams.held_back([r for r in results if r.problem() is None],
                                              self.plan.interval, batch.stalls)
        return {"n": n, "errors": sum(problems.values()), "problems": problems,
                "ttfb_p50_ms": _ms(percentile(ttfb, 50)), "ttfb_p99_ms": _ms(percentile(ttfb, 99)),
                "gap_p50_ms": _ms(percentile(gaps, 50)), "gap_p99_ms": _ms(percentile(gaps, 99)),
                "gap_max_ms": _ms(max(gaps) if gaps else None), "held_back_chunks": held,
                "held_back_client_stalled": held_client,
                "client_lag_max_ms": round(batch.client_lag_max_s * 1000, 3),
                "usage_chunks_seen": sum(r.usage_chunks for r in results)}

    def stream_cpu(self, t: Target) -> dict[str, Any]:
        """CPU per streamed chat completion: ``cpu_streams`` streams of 64 chunks paced 2 ms,
        ``stream_c`` at a time; the sidecar injects ``include_usage`` (and strips the usage chunk)
        as it does for every chat stream. Per chunk: per stream over the SSE events the upstream
        sent that target (64 content chunks, the finish chunk, ``[DONE]`` and, for the sidecar,
        the usage-only chunk)."""
        return self._stream_cpu(t, [stream_cpu.chat(t, _scaled(self.plan.cpu_streams, t, 8))])[
            "stream_cpu"]

    def gemini_stream_cpu(self, t: Target, count: int | None = None) -> dict[str, Any]:
        """CPU per streamed Gemini completion: ``gemini_streams`` (or ``count``)
        ``streamGenerateContent?alt=sse`` streams of the same 64 tokens (plus the final chunk),
        paced and in flight as the chat streams, with the app's ``x-goog-api-key`` and customer
        headers as google-genai sends them. The sidecar adds nothing to a Gemini stream: per chunk
        is over the 65 events for every target. A target with no Gemini route (LiteLLM) has None."""
        kind = stream_cpu.gemini(t, count or _scaled(self.plan.gemini_streams, t, 8))
        if kind is None:
            return stream_cpu.skipped(self.plan.stream_c)
        return self._stream_cpu(t, [kind])["gemini_stream_cpu"]

    def stream_cpus(self, t: Target) -> dict[str, dict[str, Any]]:
        """Both stream-CPU phases on ``t`` in one window, in ABBA slices (``bench/stream_cpu.py``:
        the round's Gemini / chat ratio then compares figures taken together)."""
        chat = stream_cpu.chat(t, _scaled(self.plan.cpu_streams, t, 8))
        g = stream_cpu.gemini(t, _scaled(self.plan.gemini_streams, t, 8))
        out = self._stream_cpu(t, [chat] if g is None else [chat, g])
        if g is None:
            out["gemini_stream_cpu"] = stream_cpu.skipped(self.plan.stream_c)
        return out

    def _stream_cpu(self, t: Target, kinds: list[stream_cpu.Kind]) -> dict[str, dict[str, Any]]:
        return stream_cpu.measure(t, kinds, concurrency=self.plan.stream_c,
                                  interval=self.plan.fast_interval, upstream_pids=self.upstream_pids)

    def warmup(self, t: Target) -> int:
        """Warm pools and lazy imports (the Gemini route's too); returns the errors seen (they
        count like any other)."""
        r = self.load(t, _scaled(self.plan.warmup, t, 20), 8)
        s = self.streams(t)
        g = self.gemini_stream_cpu(t, count=8)
        return r.errors + int(s["errors"]) + int(g["errors"])

    def memory(self, t: Target) -> dict[str, Any]:
        """RSS with ``plan.hold`` streams open at once, then again after they closed."""
        pids = t.pids()
        t.sent += self.plan.hold
        timeout = self.plan.hold_timeout * (3 if t.scale < 1 else 1)
        res: streams.HoldResult = _run(streams.hold_streams(
            t.port, t.path, t.headers, payloads.request_body(stream=True, model=payloads.HOLD_MODEL),
            count=self.plan.hold, open_concurrency=100, time_limit=timeout,
            sample=lambda: procfs.rss_bytes(pids)))
        time.sleep(1.0)
        return {"streams": self.plan.hold, "opened": res.opened, "errors": res.errors,
                "open_s": round(res.open_s, 2), "rss_streams_mb": round(res.rss_peak / 2**20, 1),
                "rss_after_mb": round(procfs.rss_bytes(pids) / 2**20, 1)}

    def rounds(self, targets: list[Target], progress: Callable[[str], None]) -> list[dict[str, Any]]:
        # Each step gives one or more phases' figures per target (the two stream-CPU phases are
        # measured together: ``stream_cpus``).
        steps: list[tuple[tuple[str, ...], Callable[[Target], dict[str, dict[str, Any]]]]] = [
            (("c1",), lambda t: {"c1": self.c1(t)}), (("load",), lambda t: {"load": self.loaded(t)}),
            (("streams",), lambda t: {"streams": self.streams(t)}),
            (("stream_cpu", "gemini_stream_cpu"), self.stream_cpus)]
        out: list[dict[str, Any]] = []
        for i in range(self.plan.rounds):
            order = targets[i % len(targets):] + targets[:i % len(targets)]
            rnd: dict[str, Any] = {"order": [t.name for t in order]}
            for phases, fn in steps:
                results: dict[str, dict[str, Any]] = {phase: {} for phase in phases}
                for t in order:
                    start = self.vm.now()
                    figs = fn(t)
                    steal = self.vm.steal_between(start, self.vm.now())
                    for phase in phases:
                        figs[phase]["steal_pct"] = steal
                        results[phase][t.name] = figs[phase]
                        progress(f"round {i + 1}/{self.plan.rounds} {phase:7} {t.name:16} "
                                 + _brief(phase, figs[phase]))
                rnd.update(results)
            out.append(rnd)
        return out


def _brief(phase: str, fig: dict[str, Any]) -> str:
    if phase in ("stream_cpu", "gemini_stream_cpu"):
        return (f"cpu {fig['cpu_us_per_stream']} us/stream, {fig['cpu_us_per_chunk']} us/chunk, "
                f"errors {fig['errors']}")
    if phase == "streams":
        return f"ttfb p50 {fig['ttfb_p50_ms']} ms, gap p99 {fig['gap_p99_ms']} ms, errors {fig['errors']}"
    cpu = f", cpu {fig['cpu_us_per_req']} us/req" if fig.get("cpu_us_per_req") is not None else ""
    return f"{fig['rps']} req/s, p50 {fig['p50_ms']} ms, p99 {fig['p99_ms']} ms{cpu}, errors {fig['errors']}"
