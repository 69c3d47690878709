"""The two stream-CPU phases measured together: ABBA slices, every stream counted to its kind."""

from __future__ import annotations

from pathlib import Path

from bench import payloads, stream_cpu, targets
from bench.measure import Plan
from bench.run import _start_upstream, _upstream_stats


def _kind(phase: str, count: int) -> stream_cpu.Kind:
    return stream_cpu.Kind(phase, "/", (), b"", 65, phase.startswith("gemini"), count)


def test_two_kinds_alternate_abba_and_keep_their_counts() -> None:
    a, b = _kind("stream_cpu", 9), _kind("gemini_stream_cpu", 6)
    slices = stream_cpu._slices([a, b])
    assert [k.phase for k, _ in slices] == ["stream_cpu", "gemini_stream_cpu", "gemini_stream_cpu",
                                            "stream_cpu"]
    assert sum(n for k, n in slices if k is a) == 9
    assert sum(n for k, n in slices if k is b) == 6
    assert stream_cpu._slices([a]) == [(a, 9)]


def test_both_kinds_through_the_fake_upstream(tmp_path: Path) -> None:
    upstream, port = _start_upstream(tmp_path, Plan.smoke())
    try:
        direct = targets.direct(port)
        kinds = [stream_cpu.chat(direct, 10), stream_cpu.gemini(direct, 6)]
        assert kinds[1] is not None
        figs = stream_cpu.measure(direct, [k for k in kinds if k is not None], concurrency=4,
                                  interval=0.002, upstream_pids=upstream.pids())
        stats = _upstream_stats(port)
    finally:
        upstream.stop()
    chat, gemini = figs["stream_cpu"], figs["gemini_stream_cpu"]
    assert (chat["n"], chat["errors"], gemini["n"], gemini["errors"]) == (10, 0, 6, 0)
    assert chat["cpu_us_per_stream"] is None  # direct has no process of its own
    assert gemini["upstream_cpu_us_per_stream"] is not None
    assert (stats["streams"], stats["gemini_streams"], stats["rejected"]) == (16, 6, 0)
    assert (direct.sent, direct.gemini_sent) == (16, 6)
    assert chat["usage_chunks_seen"] == 0
    assert direct.gemini_path() == payloads.gemini_path()
    # LiteLLM has no Gemini route to the fake: no Gemini kind, its figures are None.
    litellm_like = targets.Target("litellm", "litellm", port, gemini_prefix=None)
    assert stream_cpu.gemini(litellm_like, 6) is None
    assert stream_cpu.skipped(16)["cpu_us_per_stream"] is None
