"""A burst through a real ``lava-sidecar serve`` whose usage log rotates small: with the default
``usage_log.min_retention_seconds`` (a day) every line of every request served is still on disk
(rotation waits, logged once, counted); with 0, rotation deletes the oldest lines, as before, which
shows the burst is big enough to matter."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from proxy.emulator.server import running_gateway
from proxy.usagelog import decode_line, read_lines

from ..conftest import TEST_SECRET
from .harness import CHAT, body_for
from .process import SidecarProcess, sidecar_process
from .test_absurd_prices import metrics

pytestmark = pytest.mark.timeout(120)

#: ~640-byte lines: 1,200 of them are ~770 KB, 12 times what 3 files of 20 KiB hold.
REQUESTS = 1200
SMALL = {"max_bytes": 20 * 1024, "backups": 2, "fsync_interval_seconds": 0.05}


async def burst(sp: SidecarProcess, n: int, concurrency: int = 8) -> int:
    """``n`` requests from distinct customers; returns how many were answered 200."""
    body = body_for(CHAT, stream=False)
    todo, ok = list(range(n)), 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal ok
        while todo:
            i = todo.pop()
            headers = {"Content-Type": "application/json", "X-Lava-Customer-Id": f"cus_{i}",
                       "X-Lava-Meter": "chat"}
            async with http.post(sp.url + CHAT, data=body, headers=headers) as r:
                await r.read()
                ok += r.status == 200

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return ok


def on_disk(sp: SidecarProcess, backups: int) -> list[str]:
    out = []
    for line in read_lines(str(sp.usage_log), backups):
        decoded = decode_line(line)
        assert decoded is not None, line
        out.append(decoded[0].request_id)
    return out


async def test_a_burst_keeps_every_line_younger_than_the_retention(tmp_path: Path) -> None:
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, client="lean", usage_log=SMALL,
                            pricing={"from_lava": False}) as sp:
        served = await burst(sp, REQUESTS)
        scraped = await metrics(sp.admin_url)
        sp.terminate()  # a clean stop flushes every accepted line
        assert await sp.exit_code(30) == 0
    ids = on_disk(sp, SMALL["backups"])
    assert served == REQUESTS
    assert len(ids) == len(set(ids)) == served  # lines on disk = requests served
    assert scraped["lava_sidecar_usage_log_rotation_held"] == 1
    assert scraped["lava_sidecar_usage_log_rotation_holds_total"] == 1
    held = [d["msg"] for d in sp.logs() if "rotating would delete" in d.get("msg", "")]
    assert len(held) == 1
    assert "usage_log.min_retention_seconds" in held[0]
    # Three files: two full backups and the current one, grown past max_bytes.
    sizes = file_sizes(tmp_path)
    assert len(sizes) == 3
    assert max(sizes) > 10 * SMALL["max_bytes"]


async def test_without_a_retention_the_same_burst_loses_its_oldest_lines(tmp_path: Path) -> None:
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, client="lean",
                            usage_log={**SMALL, "min_retention_seconds": 0},
                            pricing={"from_lava": False}) as sp:
        served = await burst(sp, REQUESTS)
        sp.terminate()
        assert await sp.exit_code(30) == 0
    ids = on_disk(sp, SMALL["backups"])
    assert served == REQUESTS
    assert len(ids) < served / 4  # what the retention is for


def file_sizes(folder: Path) -> list[int]:
    return [p.stat().st_size for p in sorted(folder.glob("usage.jsonl*"))]
