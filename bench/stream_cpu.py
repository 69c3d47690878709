"""CPU per streamed completion, chat and Gemini, measured together in alternating slices.

A round's Gemini / chat ratio compares two figures of the same target; measured one phase after
the other they are half a minute apart, and on a shared machine the load moves in that time (in
one full run the nginx ratio, which should sit still, went from 0.73 to 1.11 between rounds). So
the two kinds run in one window, in ABBA slices (chat, Gemini, Gemini, chat: half the streams of
each kind per slice): a load change during the window, linear in time, is charged to both alike.
CPU is the target's process tree from /proc before and after each slice, summed per kind.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import uvloop

from . import payloads, procfs, streams
from .targets import GEMINI_HEADERS, Target


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of stream: its phase name in the results, its request and its SSE event count."""

    phase: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    events: int
    gemini: bool
    count: int


def chat(t: Target, count: int) -> Kind:
    """The chat stream (``bench-fast``: 64 chunks paced 2 ms); the sidecar injects ``include_usage``
    and strips the usage-only chunk again, so it was sent one event more."""
    return Kind("stream_cpu", t.path, t.headers,
                payloads.request_body(stream=True, model=payloads.FAST_MODEL),
                payloads.stream_events(include_usage=t.kind == "sidecar"), False, count)


def gemini(t: Target, count: int) -> Kind | None:
    """Gemini's stream of the same tokens, or None when ``t`` has no Gemini route to the fake."""
    path = t.gemini_path()
    if path is None:
        return None
    return Kind("gemini_stream_cpu", path, GEMINI_HEADERS, payloads.gemini_request_body(),
                payloads.gemini_stream_events(), True, count)


@dataclass(slots=True)
class _Tally:
    n: int = 0
    cpu_s: float = 0.0
    upstream_cpu_s: float = 0.0
    usage_chunks: int = 0
    problems: dict[str, int] = field(default_factory=dict)


def _slices(kinds: list[Kind]) -> list[tuple[Kind, int]]:
    """ABBA for two kinds (each split in halves), one slice for one."""
    if len(kinds) != 2:
        return [(k, k.count) for k in kinds]
    a, b = kinds
    return [(a, a.count // 2), (b, b.count // 2), (b, b.count - b.count // 2),
            (a, a.count - a.count // 2)]


def measure(t: Target, kinds: list[Kind], *, concurrency: int, interval: float,
            upstream_pids: list[int]) -> dict[str, dict[str, Any]]:
    """Each kind's streams through ``t``, ``concurrency`` at a time, paced ``interval``: per kind
    (by phase name) the figures of the stream-CPU phase."""
    tallies = {k.phase: _Tally() for k in kinds}
    for kind, n in _slices(kinds):
        if n <= 0:
            continue
        tally = tallies[kind.phase]
        t.sent += n
        if kind.gemini:
            t.gemini_sent += n
        cpu0, up0 = procfs.cpu_seconds(t.pids()), procfs.cpu_seconds(upstream_pids)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            batch = runner.run(streams.run_streams(
                t.port, kind.path, kind.headers, kind.body, count=n, concurrency=concurrency,
                spacing=64 * interval / concurrency, time_limit=30.0 + 64 * interval * 20,
                gemini=kind.gemini))
        tally.cpu_s += procfs.cpu_seconds(t.pids()) - cpu0
        tally.upstream_cpu_s += procfs.cpu_seconds(upstream_pids) - up0
        tally.n += n
        for r in batch.results:
            tally.usage_chunks += r.usage_chunks
            if (p := r.problem()) is not None:
                tally.problems[p] = tally.problems.get(p, 0) + 1
    return {k.phase: _figures(tallies[k.phase], k, t.is_proxy, concurrency) for k in kinds}


def _figures(tally: _Tally, kind: Kind, is_proxy: bool, concurrency: int) -> dict[str, Any]:
    n = tally.n
    per_stream = tally.cpu_s * 1e6 / n if n else None
    fig: dict[str, Any] = {
        "n": n, "c": concurrency, "errors": sum(tally.problems.values()),
        "problems": tally.problems,
        "cpu_us_per_stream": round(per_stream, 1) if is_proxy and per_stream is not None else None,
        "cpu_us_per_chunk": round(per_stream / kind.events, 2)
        if is_proxy and per_stream is not None else None,
        "upstream_cpu_us_per_stream": round(tally.upstream_cpu_s * 1e6 / n, 1) if n else None}
    if not kind.gemini:
        fig["usage_chunks_seen"] = tally.usage_chunks
    return fig


def skipped(concurrency: int) -> dict[str, Any]:
    """The Gemini figures of a target with no Gemini route to the fake (LiteLLM)."""
    return {"n": 0, "c": concurrency, "errors": 0, "problems": {}, "cpu_us_per_stream": None,
            "cpu_us_per_chunk": None, "upstream_cpu_us_per_stream": None,
            "skipped": "no Gemini route to the fake"}
