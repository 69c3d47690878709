"""The soak end to end, small: the real sidecar process, the local gateway, faults and departing
clients; every record reconciles and nothing grows (``make soak`` is the same at 50,000)."""

from __future__ import annotations

from pathlib import Path

import pytest

from soak.run import Options, soak, verdict

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


@pytest.mark.parametrize("client", ["aiohttp", "lean"])
async def test_small_soak_reconciles(tmp_path: Path, client: str) -> None:
    opts = Options(requests=600, warmup=150, concurrency=24, client=client, out=tmp_path,
                   max_rss_growth_mb=16.0)
    report, figures = await soak(opts)
    assert report.records >= report.requests - report.not_started
    assert report.problems == []
    assert verdict(report, figures, opts) == []
    outcomes = figures["outcomes"]
    # The faults really happened: every kind of ending is in the log.
    assert {"ok", "upstream_error", "timeout", "client_disconnect"} <= set(outcomes)
