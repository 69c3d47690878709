"""``lava-sidecar demo``: the seed flow end to end (meter → plan → checkout → forward tokens →
usage per customer) against the local Lava, and the sidecar agreeing with what it billed, to ten
decimal places for every customer, with prices listed from Lava (no ``meters:`` in config)."""

from __future__ import annotations

import io
import re

from proxy.demo import run_demo


async def test_demo_agrees_with_the_gateway_and_shows_the_402() -> None:
    out = io.StringIO()
    assert await run_demo(keep_running=False, port=0, out=out) == 0
    text = out.getvalue()
    # The charges below come from Lava's prices: nothing is copied into meters:.
    assert "prices: 1 meter(s) listed from the local Lava, 0 in the sidecar's config" in text
    rows = [line for line in text.splitlines() if line.endswith(("agree", "DIFFER"))]
    assert len(rows) == 3
    assert [line.split()[0] for line in rows] == ["Alice", "Bob", "Carol"]
    assert all(line.endswith("agree") for line in rows)
    assert all(float(line.split()[5]) > 0 for line in rows)  # everyone was charged
    assert "Carol's credit ran out" in text
    # The closing check is `lava-sidecar reconcile`, request by request: all matched, none differ.
    (line,) = [x for x in text.splitlines() if x.startswith("lava-sidecar reconcile")]
    assert " 0 disagree" in line, line
    assert "1 refused by Lava before billing" in line, line  # Carol's 402
    assert "\nThe sidecar's numbers agree with what Lava billed.\n" in text
    # It ends with where to see what Lava billed: the local Lava's dashboard.
    assert re.search(r"What Lava billed, in the local Lava's dashboard: http://127\.0\.0\.1:\d+/\n"
                     r"\(it stops with the demo; lava-sidecar demo --keep-running keeps it",
                     text.rstrip().split("\n\n")[-1])
    assert "402" in text
    assert "aks_test_" not in text  # the key is only printed with --keep-running
