"""Bodies refused with a 408 give their memory back at once, on a real ``lava-sidecar serve``
(issue 24): three rounds of 8 bodies of 31 MiB, then of 64 of 2 MiB, each a byte short of its
``Content-Length`` with a short ``limits.body_idle_timeout_seconds``. RSS after every round stays
at the warmed-up baseline (it grew by each round's bodies, ~250 MB a round, when a reference cycle
kept every refused body until a full garbage collection), the body budget is back to zero, every
body got its 408 and one usage line, and the sidecar serves on.

The figures print with ``pytest -s``; ``python -m bench.stalled_bodies`` is the same probe with a
before/after comparison (docs/failure-behaviour.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.stalled_bodies import LINGER, stalled
from proxy.emulator.server import running_gateway

from ..conftest import TEST_SECRET
from .harness import CHAT, call
from .process import eventually, sidecar_process
from .test_slow_clients import lines_are, metric_is, rss

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

MIB = 1024 * 1024
ROUNDS = 3
#: Far below one round's bodies (248 MB, 128 MB), far above what RSS spreads on a shared machine.
GROWTH_BOUND = 48 * MIB


async def test_bodies_refused_with_408_leave_rss_flat_over_rounds(tmp_path: Path) -> None:
    shapes = [(8, 31), (64, 2)]
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, limits={"body_idle_timeout_seconds": 1.0},
                            pricing={"from_lava": False}) as sp:
        for _ in range(20):  # warm up: the baseline has paid for first-use costs
            assert (await call(sp.url, CHAT)).status == 200
        baseline = rss(sp.proc.pid)
        figures = []
        answered = 20
        for count, mib in shapes:
            body = memoryview(b"x" * (mib * MIB))
            for n in range(ROUNDS):
                async with asyncio.timeout(120):
                    statuses = await asyncio.gather(*(stalled(sp.port, body) for _ in range(count)))
                assert statuses == [408] * count
                answered += count
                await eventually(lambda: metric_is(sp, 0, "lava_sidecar_buffered_body_bytes"), 10)
                await asyncio.sleep(LINGER / 4)  # the connections' own teardown
                grown = rss(sp.proc.pid) - baseline
                figures.append(f"{count}x{mib} MiB round {n + 1}: {grown / MIB:+.0f} MB")
                assert grown < GROWTH_BOUND, figures
            del body
        print(f"\nRSS over the baseline ({baseline / MIB:.0f} MB): " + "; ".join(figures))
        # Still serving, and every refused body has its one line.
        assert (await call(sp.url, CHAT)).status == 200
        await eventually(lambda: lines_are(sp, answered + 1), 20)
    codes = [r["error_code"] for r in sp.records() if r["status"] == 408]
    assert codes == ["request_body_timeout"] * (answered - 20)
