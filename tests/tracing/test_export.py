"""The export path when the collector misbehaves, sampling, shutdown, and tracing off.

A collector that is down, answers 500 or stalls past the export timeout never touches a request:
every request is answered in full, the spans it could not take are counted as dropped, and the
queue never holds more than ``max_queue_size``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai

from proxy.tracing.spans import Tracer

from ..faults.process import free_port
from ..stack import CUSTOMER_HEADERS, Stack, running_stack
from .collector import CLIENT, SERVER, running_collector
from .conftest import traced_stack

DROPPED = "lava_sidecar_trace_spans_dropped_total"
EXPORTED = "lava_sidecar_trace_spans_exported_total"
QUEUED = "lava_sidecar_trace_queue_spans"


async def chat(stack: Stack, n: int, **headers: str) -> list[str]:
    c = openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="sk-app-dummy-credential",
                           default_headers={**CUSTOMER_HEADERS, **headers}, max_retries=0)
    stack.closers.append(c.close)

    async def one() -> str:
        r = await c.chat.completions.create(model="gpt-4o-mini",
                                            messages=[{"role": "user", "content": "hi"}])
        return r.choices[0].message.content or ""

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def eventually(check, within: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll a condition the export thread makes true (bounded; not a timing assertion)."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - set from another thread, no event to wait on
            await asyncio.sleep(0.02)


def accounted(stack: Stack) -> float:
    return stack.sample(EXPORTED) + sum(stack.sample(DROPPED, reason=r)
                                        for r in ("queue_full", "export_failed", "shutdown"))


async def test_collector_down(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/v1/traces"
    async with traced_stack(tmp_path, nobody, export_timeout=0.5) as stack:
        answers = await chat(stack, 10)
        assert all(answers)
        await eventually(lambda: len(stack.log_lines()) == 10)  # the log writer runs on its own
        assert [ln["outcome"] for ln in stack.log_lines()] == ["ok"] * 10
        await eventually(lambda: stack.sample(DROPPED, reason="export_failed") == 20)
        assert stack.sample(EXPORTED) == 0


async def test_collector_answers_500(tmp_path: Path) -> None:
    async with running_collector("error") as col, traced_stack(tmp_path, col.url) as stack:
        assert all(await chat(stack, 5))
        await eventually(lambda: stack.sample(DROPPED, reason="export_failed") == 10)
        assert col.posts >= 1
        assert col.spans == []


async def test_a_busy_collector_is_retried_and_gzip_is_spoken(tmp_path: Path) -> None:
    async with running_collector("busy_once") as col, \
            traced_stack(tmp_path, col.url, compression="gzip") as stack:
        assert all(await chat(stack, 2))
        await col.wait(4)
        assert col.posts >= 2
        assert set(col.encodings) == {"gzip"}
        assert stack.sample(DROPPED, reason="export_failed") == 0


async def test_collector_stalls_queue_stays_bounded(tmp_path: Path) -> None:
    async with running_collector("stall") as col, \
            traced_stack(tmp_path, col.url, export_timeout=1.0, max_queue_size=4,
                         max_export_batch_size=2) as stack:
        seen_queue: list[float] = []
        for _ in range(5):
            assert all(await chat(stack, 6))
            seen_queue.append(stack.sample(QUEUED))
        assert max(seen_queue) <= 4
        await eventually(lambda: len(stack.log_lines()) == 30)
        assert stack.sample(DROPPED, reason="queue_full") > 0
    # The shutdown did not wait on the stalled collector beyond the export timeout; afterwards every
    # one of the 60 spans is counted: dropped (queue full, failed export, abandoned at shutdown).
    await eventually(lambda: accounted(stack) == 60)
    assert stack.sample(EXPORTED) == 0
    assert col.spans == []


async def test_sampled_out_exports_nothing_but_still_propagates(tmp_path: Path) -> None:
    async with running_collector() as col:
        async with traced_stack(tmp_path, col.url, sampler="traceidratio", sampler_ratio=0.0) as stack:
            assert all(await chat(stack, 10))
            seen = await stack.gateway.last.finished()
            tp = seen.header("traceparent")
            assert tp is not None
            assert tp.endswith("-00")
        # After the shutdown's flush too: nothing was ever queued.
        assert col.posts == 0
        assert col.spans == []


async def test_shutdown_flushes_what_is_queued(tmp_path: Path) -> None:
    async with running_collector() as col:
        # A long delay: nothing would leave before the shutdown without the flush.
        async with traced_stack(tmp_path, col.url, schedule_delay=60.0) as stack:
            assert all(await chat(stack, 3))
            assert col.spans == []
        assert len(col.by_kind(SERVER)) == 3
        assert len(col.by_kind(CLIENT)) == 3
        assert stack.sample(EXPORTED) == 6


async def test_off_installs_nothing_and_forwards_the_callers_headers(tmp_path: Path) -> None:
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with running_stack(tmp_path) as stack:
        assert not stack.settings.tracing.enabled
        rt = stack.running.runtime
        assert not any(isinstance(h, Tracer) for h in (*rt.admission, *rt.completion))
        assert stack.running.app.tracer is None
        assert all(await chat(stack, 1, traceparent=incoming))
        seen = await stack.gateway.last.finished()
        # Off, the sidecar is transparent to trace context: the caller's header passes as it came.
        assert seen.header("traceparent") == incoming
        assert stack.registry.get_sample_value(EXPORTED) is None
