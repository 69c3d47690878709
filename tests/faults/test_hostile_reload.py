"""Hostile config files reloaded by SIGHUP into a real ``lava-sidecar serve`` under a steady probe of
proxied requests (issue 24): a YAML alias bomb ("billion laughs", nine levels of nine aliases
quoted where a string belongs) and an 8 MB file. Each is refused with one short log line, the
running configuration is kept, no probe request fails, the proxy's latency during the reload stays
at its level before it (the reload no longer runs on the event loop: the 8 MB file stalled
requests for seconds there, the bomb ~14 s), RSS does not jump and the log stays small.

The latency bound is a regression bound (a stall is seconds; the probe's normal max is
milliseconds), not the target; the figures print with ``pytest -s`` and
``python -m bench.reload_probe`` measures them (docs/failure-behaviour.md).
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from bench.reload_probe import Probe, alias_bomb, big_file, replace_file
from proxy.emulator.server import running_gateway

from ..conftest import TEST_SECRET
from .process import SidecarProcess, eventually, sidecar_process
from .test_slow_clients import metric_is, rss

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

WINDOW = 3.0
MIB = 1024 * 1024


async def reload_refused(sp: SidecarProcess, probe: Probe, text: str, errors: int) -> dict[str, float]:
    """Swap ``text`` in, SIGHUP, wait for the refusal to be counted; the probe's figures from the
    signal on (at least ``WINDOW`` seconds)."""
    # From a thread: the probe shares this loop, and its stall would read as the sidecar's.
    await asyncio.to_thread(replace_file, sp.usage_log.with_name("sidecar.yaml"), text)
    sent = time.monotonic()
    sp.proc.send_signal(signal.SIGHUP)
    await eventually(lambda: metric_is(sp, errors, "lava_sidecar_config_reloads_total",
                                       result="error"), 30)
    await asyncio.sleep(max(0.0, sent + WINDOW - time.monotonic()))
    return probe.window(sent, time.monotonic())


async def test_an_alias_bomb_and_an_8mb_file_are_refused_without_stalling_the_proxy(
        tmp_path: Path) -> None:
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, pricing={"from_lava": False}) as sp:
        config = tmp_path / "sidecar.yaml"
        good = config.read_text()
        bomb_text, big_text = alias_bomb(), big_file(good)  # built before the probe starts
        # The file watcher polls every 2 s: the swapped file may be seen by it and by the signal,
        # two refusals for one file. A slower poll than the test is not configurable, so the
        # counts below are "at least"; the log bounds hold per line.
        probe = Probe(conns=2, gap=0.01)
        task = asyncio.ensure_future(probe.run(sp.port))
        try:
            await asyncio.sleep(WINDOW)
            before = probe.window(0, time.monotonic())
            rss_before, log_before = rss(sp.proc.pid), len(sp.stderr)
            bomb = await reload_refused(sp, probe, bomb_text, 1)
            await asyncio.to_thread(replace_file, config, good)
            big = await reload_refused(sp, probe, big_text, 2)
            await asyncio.to_thread(replace_file, config, good)
            rss_after = rss(sp.proc.pid)
        finally:
            probe.stop.set()
            await task
        print(f"\nprobe before: {before}\nduring the alias bomb's reload: {bomb}\n"
              f"during the 8 MB file's reload: {big}\nRSS {rss_before / MIB:.0f} -> "
              f"{rss_after / MIB:.0f} MB")
        for during in (bomb, big):
            assert during["requests"] > 0
            assert during["failed"] == 0
            assert during["max_ms"] < before["max_ms"] + 1000  # a stall is seconds
        assert before["failed"] == 0
        assert rss_after - rss_before < 32 * MIB
        logged = sp.stderr[log_before:]
        problems = [line for line in logged if "config problem" in line]
        assert any("anchors and aliases" in line for line in problems)
        assert any("over the sidecar's limit of 1,048,576" in line for line in problems)
        assert all(len(line) < 1000 for line in logged), max(logged, key=len)[:300]
        assert sum(len(line) for line in logged) < 20_000
        assert not any("lol" in line for line in logged)  # nothing of the file is quoted
        # The running configuration was kept throughout, and the sidecar stops cleanly.
        assert await sp.readyz(200)
        sp.terminate()
        assert await sp.exit_code(30) == 0
    assert config.read_text() == good
