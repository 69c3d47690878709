"""Reloading quotas and identity.api_keys on a real ``lava-sidecar serve`` process: on SIGHUP, and
when the mounted file changes (swapped the way a ConfigMap update swaps it); a bad file keeps the
running values, logs every problem and is counted; SIGHUP never interrupts what is in flight."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ..faults.process import SidecarProcess, eventually, sidecar_process
from .countinggateway import counting_gateway
from .test_replicas import well_inside_a_minute

CHAT = "/v1/chat/completions"
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
STREAM = json.dumps({"model": "gpt-4o-mini", "stream": True,
                     "messages": [{"role": "user", "content": "hi"}]})


def rewrite(sc_dir: Path, change: dict[str, Any]) -> None:
    """A new version of the config file, swapped in by rename (never a half-written file)."""
    path = sc_dir / "sidecar.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg.update(change)
    tmp = sc_dir / ".sidecar.yaml.new"
    tmp.write_text(yaml.safe_dump(cfg))
    os.replace(tmp, path)


async def status(sc: SidecarProcess, headers: dict[str, str], body: str = BODY) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            sc.url + CHAT, data=body, headers={"Content-Type": "application/json", **headers}) as r:
        await r.read()
        return r.status


async def reloads(sc: SidecarProcess, result: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(sc.admin_url + "/metrics") as r:
        text = await r.text()
    for family in text_string_to_metric_families(text):
        if family.name == "lava_sidecar_config_reloads":
            for s in family.samples:
                if s.name.endswith("_total") and s.labels.get("result") == result:
                    return s.value
    return 0.0


def who(customer: str) -> dict[str, str]:
    return {"X-Lava-Customer-Id": customer, "X-Lava-Meter": "chat-tokens"}


async def test_sighup_and_file_changes_reload_quotas_and_a_bad_file_keeps_them(tmp_path: Path) -> None:
    async with counting_gateway() as gw, sidecar_process(tmp_path, gw.url) as sc:
        await well_inside_a_minute(15)
        # No quotas at start: nothing limits cus_a.
        assert [await status(sc, who("cus_a")) for _ in range(3)] == [200] * 3

        # A limit arrives by SIGHUP (quotas switched on while serving).
        rewrite(tmp_path, {"quotas": {"customers": {"cus_a": {"requests_per_minute": 2}}}})
        sc.proc.send_signal(signal.SIGHUP)
        await eventually(lambda: _is(reloads(sc, "ok"), 1), within=10)
        assert [await status(sc, who("cus_a")) for _ in range(3)] == [200, 200, 429]
        assert await status(sc, who("cus_b")) == 200  # only cus_a was named

        # A bad file: every problem logged with its key, counted, the old limits kept.
        rewrite(tmp_path, {"quotas": {"default": {"requests_per_minute": -1},
                                      "customers": {"cus_a": {"requests_per_minte": 5}}}})
        sc.proc.send_signal(signal.SIGHUP)
        await eventually(lambda: _is(reloads(sc, "error"), 1), within=10)
        assert await status(sc, who("cus_a")) == 429
        problems = [doc for doc in sc.logs() if doc.get("msg", "").startswith("config problem")]
        keys = " ".join(doc["msg"] for doc in problems)
        assert "quotas.default.requests_per_minute" in keys
        assert "quotas.customers.cus_a.requests_per_minte" in keys
        assert sc.proc.returncode is None

        # The file changes and nobody sends a signal (a ConfigMap update): picked up by itself.
        rewrite(tmp_path, {"quotas": {"customers": {"cus_a": {"requests_per_minute": 1000}}}})
        await eventually(lambda: _is(reloads(sc, "ok"), 2), within=15)
        assert await status(sc, who("cus_a")) == 200
        assert gw.by_customer["cus_a"] == 6


async def test_api_keys_reload_and_restart_only_changes_are_named(tmp_path: Path) -> None:
    async with counting_gateway() as gw, sidecar_process(
            tmp_path, gw.url, env={"TEAM_KEY": "sk-team-local"}) as sc:
        team = {"Authorization": "Bearer sk-team-local"}
        assert await status(sc, team) == 401  # not bound yet: no customer for the request
        rewrite(tmp_path, {"identity": {"api_keys": [
            {"key": {"env": "TEAM_KEY"}, "customer": "cus_team", "meter": "chat-tokens"}]},
            "shutdown": {"grace_seconds": 3, "drain_delay_seconds": 0.5}})
        sc.proc.send_signal(signal.SIGHUP)
        await eventually(lambda: _is(reloads(sc, "ok"), 1), within=10)
        assert await status(sc, team) == 200
        assert gw.by_customer == {"cus_team": 1}
        later = [doc["msg"] for doc in sc.logs() if "only at restart" in doc.get("msg", "")]
        assert later, sc.stderr
        assert "shutdown" in later[0]
        # Nothing secret in what the reload logged.
        assert "sk-team-local" not in "\n".join(sc.stderr)


async def test_sighup_during_streams_interrupts_nothing(tmp_path: Path) -> None:
    async with counting_gateway(delay=1.0) as gw, sidecar_process(tmp_path, gw.url) as sc:
        streams = [asyncio.ensure_future(status(sc, who("cus_a"), STREAM)) for _ in range(5)]
        await eventually(lambda: _true(gw.inflight == 5), within=10)
        for _ in range(3):
            sc.proc.send_signal(signal.SIGHUP)
        assert await asyncio.gather(*streams) == [200] * 5
        assert sc.proc.returncode is None
        await eventually(lambda: _true(len(sc.records()) == 5), within=10)
        assert {r["outcome"] for r in sc.records()} == {"ok"}
        sc.terminate()
        assert await sc.exit_code(within=15) == 0


async def _is(value: Any, expected: float) -> bool:
    return bool(await value == expected)


async def _true(value: bool) -> bool:
    return value
