"""``lava-sidecar demo``: the seed flow end to end (meter → plan → checkout → forward tokens →
usage per customer) against the local Lava, and the sidecar agreeing with what it billed, to ten
decimal places for every customer, with prices listed from Lava (no ``meters:`` in config)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
import sys
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from proxy.demo import run_demo
from proxy.money import usd

ROOT = Path(__file__).resolve().parents[1]


async def test_demo_agrees_with_the_gateway_and_shows_the_402() -> None:
    out = io.StringIO()
    assert await run_demo(keep_running=False, port=0, out=out) == 0
    text = out.getvalue()
    # The charges below come from Lava's prices: nothing is copied into meters:.
    assert "prices: 1 meter listed from the local Lava, 0 in the sidecar's config" in text
    rows = [line for line in text.splitlines() if line.endswith(("agree", "DIFFER"))]
    assert len(rows) == 3
    assert [line.split()[0] for line in rows] == ["Alice", "Bob", "Carol"]
    assert all(line.endswith("agree") for line in rows)
    assert all(float(line.split()[5]) > 0 for line in rows)  # everyone was charged
    # The table reads as columns (issue 23): each number ends where its heading ends, and the
    # group headings name the units once.
    lines = text.splitlines()
    head = lines[lines.index(rows[0]) - 2]
    assert lines[lines.index(rows[0]) - 3].split() == ["----tokens---", "---charge,", "USD----",
                                                       "credit", "left"]
    assert head.split() == ["customer", "plan", "requests", "sidecar", "Lava", "sidecar", "Lava",
                            "USD"]
    ends = [m.end() for m in re.finditer(r"\S+", head)][2:]
    for line in rows:
        assert [m.end() for m in re.finditer(r"\S+", line)][2:8] == ends, (head, line)
        # Charges in the one format every output uses (proxy.money.usd): exact, >= 2 decimals.
        for cell in line.split()[5:8]:
            assert re.fullmatch(r"\d+\.\d{2,}", cell), cell
            assert usd(Decimal(cell)) == cell
    assert "Carol's credit ran out" in text
    # The closing check is `lava-sidecar reconcile`, request by request: all matched, none differ.
    (line,) = [x for x in text.splitlines() if x.startswith("lava-sidecar reconcile")]
    assert " 0 disagree" in line, line
    assert "1 refused by Lava before billing" in line, line  # Carol's 402
    assert "\nThe sidecar's numbers agree with what Lava billed.\n" in text
    # It ends with where to see what Lava billed: the local Lava's dashboard.
    assert re.search(r"What Lava billed, in the local Lava's dashboard: http://127\.0\.0\.1:\d+/\n"
                     r"\(it stops with the demo; lava-sidecar demo --keep-running keeps it",
                     text.rstrip().split("\n\n")[-2])
    # And the next step, as `make demo` users type it.
    assert text.rstrip().split("\n\n")[-1].startswith(
        "Next: make demo DEMO_ARGS=--keep-running keeps them up and prints curl commands")
    assert "402" in text
    assert "aks_test_" not in text  # the key is only printed with --keep-running


@pytest.mark.slow
async def test_keep_running_leaves_lava_the_sidecar_and_the_merchant_example_up() -> None:
    """``lava-sidecar demo --keep-running`` as a user runs it: the URLs it prints answer, and
    SIGTERM stops it and the merchant example's process it started."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the merchant example's page is built with it (.ci/run)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAVA_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "demo", "--keep-running", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(240):
            while not any(line.startswith("Try the sidecar by hand") for line in lines):
                line = (await proc.stdout.readline()).decode()
                assert line, "demo exited early: " + "".join(lines)
                lines.append(line)
        text = "".join(lines)
        dashboard = re.search(r"local Lava dashboard: (http://127\.0\.0\.1:\d+)/", text)
        shop = re.search(r"merchant example: (http://127\.0\.0\.1:\d+)/", text)
        assert dashboard is not None, text
        assert shop is not None, text
        async with aiohttp.ClientSession() as s:
            async with s.get(dashboard.group(1) + "/dashboard/customers") as r:
                page = await r.text()
                assert r.status == 200
            for name in ("Alice", "Bob", "Carol", "out of credit"):
                assert name in page
            async with s.get(shop.group(1) + "/api/config") as r:
                config = await r.json()
            assert config["plan"]["name"] == "Pro"
            assert config["bundle"]["name"] == "Top-up $10"
            async with s.get(shop.group(1) + "/bundle.js") as r:
                assert r.status == 200
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            rest, _ = await proc.communicate()
    assert proc.returncode == 0, rest.decode()[-2000:]
    assert "What Lava billed, in the local Lava's dashboard" in rest.decode()
    with pytest.raises(aiohttp.ClientConnectionError):  # the example went with it
        async with aiohttp.ClientSession() as s, s.get(shop.group(1) + "/"):
            pass
