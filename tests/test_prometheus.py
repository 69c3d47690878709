"""A real Prometheus server scrapes the sidecar and PromQL returns the totals /usage reports."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from .stack import running_stack

pytestmark = [pytest.mark.external, pytest.mark.slow]
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def query(http: aiohttp.ClientSession, base: str, promql: str) -> list[dict[str, Any]]:
    async with http.get(base + "/api/v1/query", params={"query": promql}) as r:
        doc = await r.json()
    assert doc["status"] == "success", doc
    return list(doc["data"]["result"])


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (.ci/run installs Debian's)")
async def test_promql_totals_equal_usage(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack, aiohttp.ClientSession() as http:
        for customer, n in (("cus_p1", 3), ("cus_p2", 2)):
            async with openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0,
                                          default_headers={"X-Lava-Customer-Id": customer,
                                                           "X-Lava-Meter": "m"}) as c:
                for _ in range(n):
                    async for _ in await c.chat.completions.create(
                            model="gpt-4o-mini", stream=True,
                            messages=[{"role": "user", "content": "hi " + customer}]):
                        pass
        async with http.get(stack.admin_url + "/usage") as r:
            usage = (await r.json())["customers"]

        target = stack.admin_url.removeprefix("http://")
        port = free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                       "scrape_configs:\n  - job_name: sidecar\n"
                       f"    static_configs: [{{targets: ['{target}']}}]\n")
        proc = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, stopped in finally
            [str(PROMETHEUS), f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            want = {c: float(usage[c]["total"]["input_tokens"]) for c in ("cus_p1", "cus_p2")}
            got: dict[str, float] = {}
            async with asyncio.timeout(60):
                while got != want:
                    await asyncio.sleep(0.5)
                    try:
                        rows = await query(http, base, 'sum by (customer) '
                                           '(lava_sidecar_tokens_total{type="input"})')
                    except aiohttp.ClientError:
                        continue  # prometheus still starting
                    got = {row["metric"]["customer"]: float(row["value"][1]) for row in rows}
            assert got == want
            assert all(v > 0 for v in want.values())
            up = await query(http, base, 'up{job="sidecar"}')
            assert up[0]["value"][1] == "1"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (.ci/run installs Debian's prometheus)")
async def test_promtool_check_metrics_is_clean(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack, aiohttp.ClientSession() as http:
        async with openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0,
                                      default_headers={"X-Lava-Customer-Id": "c", "X-Lava-Meter": "m"}) as c:
            await c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        async with http.get(stack.admin_url + "/metrics") as r:
            page = await r.read()
    res = subprocess.run([str(PROMTOOL), "check", "metrics"], input=page, capture_output=True,  # noqa: ASYNC221
                         timeout=30, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert b"gen_ai_client_token_usage_bucket" in page
    assert b"lava_sidecar_build_info" in page
