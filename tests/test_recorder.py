"""The recorder: one record reaches the log, the totals and the metrics; it never raises; restarts replay."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from proxy.config import MeterPrice, Settings, Tier, UsageLog
from proxy.metering import Recorder
from proxy.secret import Secret
from proxy.usage.base import Usage
from proxy.usagelog import read_lines
from tests.records import make

M = 1_000_000
METER = MeterPrice("tokens", "tokens_1m", (Tier(Decimal(0), Decimal(5)), Tier(Decimal(M), Decimal(3))))


def settings(path: Path | None, **kw: Any) -> Settings:
    log = UsageLog(path=str(path) if path else None, fsync_interval=0.01)
    return Settings(secret_key=Secret("aks_test_recorder"), usage_log=log, meters=(METER,), **kw)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_lines(str(path), 5)]


async def test_one_record_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    reg = CollectorRegistry()
    rec = await Recorder.open(settings(path), reg)
    rec.record(make(usage=Usage(input_tokens=3 * M, output_tokens=2 * M, source="provider")))
    await rec.aclose()
    [line] = lines(path)
    assert line["charge_usd"] == "17.00"  # lava-api.md 4.2's example, through the whole path
    assert rec.totals.snapshot("cus_1")["customers"]["cus_1"]["total"]["charge_usd"] == "17.00"
    assert reg.get_sample_value("lava_sidecar_charge_usd_total",
                                {"customer": "cus_1", "meter": "tokens"}) == 17
    assert reg.get_sample_value("lava_sidecar_usage_log_records_total") == 1
    assert reg.get_sample_value("lava_sidecar_usage_log_pending") == 0


async def test_a_refused_request_is_logged_but_never_charged(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    reg = CollectorRegistry()
    rec = await Recorder.open(settings(path), reg)
    rec.record(make(outcome="rejected", status=413, error_code="request_too_large",
                    usage=Usage(input_tokens=5, source="estimated")))
    await rec.aclose()
    [line] = lines(path)
    assert (line["outcome"], line["charge_usd"]) == ("rejected", None)
    assert rec.totals.records == 0
    assert rec.pricing.position("cus_1", "tokens") == 0


async def test_a_malformed_record_never_raises_and_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    reg = CollectorRegistry()
    rec = await Recorder.open(settings(path), reg)
    bad = make(api="not-an-Api-member")  # a handler bug: the type says Api
    rec.record(bad)  # must not raise into the handler's finally
    rec.record(make(request_id="sc_good"))
    await rec.aclose()
    assert reg.get_sample_value("lava_sidecar_recorder_errors_total") == 1   # metrics step
    assert reg.get_sample_value("lava_sidecar_usage_log_errors_total") == 1  # its line
    assert [line["request_id"] for line in lines(path)] == ["sc_good"]
    assert rec.totals.records == 2  # the totals step did not need the api


async def test_restart_replays_totals_and_tier_positions(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    first = await Recorder.open(settings(path), CollectorRegistry())
    first.record(make(usage=Usage(input_tokens=M, source="provider")))
    first.record(make(customer_id="cus_2", meter_slug="other", partial=True,
                      usage=Usage(output_tokens=9, source="provider")))
    first.record(make(request_id="sc_x", outcome="upstream_error", status=502, usage=Usage()))
    await first.replay_log()  # nothing to replay: a fresh log
    await first.aclose()
    before = first.totals.snapshot()

    second = await Recorder.open(settings(path), CollectorRegistry())
    assert second.totals.snapshot()["replay"] == "pending"
    assert await second.replay_log() == 3
    assert second.totals.snapshot() == before | {"replay": "done"}
    # The first million was at 5; the restarted sidecar charges the next one at 3, as Lava would.
    second.record(make(usage=Usage(input_tokens=M, source="provider")))
    await second.aclose()
    assert lines(path)[-1]["charge_usd"] == "3.00"

    third = await Recorder.open(settings(path), CollectorRegistry(), replay=False)
    assert third.totals.records == 0
    await third.aclose()


async def test_replay_never_reads_lines_written_after_start(tmp_path: Path) -> None:
    """Startup does not wait for the replay; live lines written before it runs count once."""
    path = tmp_path / "usage.jsonl"
    first = await Recorder.open(settings(path), CollectorRegistry())
    for i in range(5):
        first.record(make(request_id=f"sc_old{i}"))
    await first.aclose()
    second = await Recorder.open(settings(path), CollectorRegistry())
    for i in range(3):
        second.record(make(request_id=f"sc_new{i}"))
    await asyncio.sleep(0.2)  # the writer flushes the live lines into the file being replayed
    assert len(lines(path)) == 8
    assert await second.replay_log() == 5
    assert second.totals.records == 8
    await second.aclose()


async def test_without_a_log_it_still_meters() -> None:
    reg = CollectorRegistry()
    rec = await Recorder.open(settings(None), reg)
    assert rec.ledger is None
    assert rec.usage_log_healthy()
    rec.record(make())
    await rec.aclose()
    assert rec.totals.records == 1
    assert reg.get_sample_value("lava_sidecar_requests_total", {
        "provider": "openai", "api": "chat", "model": "gpt-5-nano", "customer": "cus_1",
        "meter": "tokens", "code": "200"}) == 1


async def test_health_follows_the_log(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    path.symlink_to("/dev/full")
    rec = await Recorder.open(settings(path), CollectorRegistry(), replay=False)
    assert rec.usage_log_healthy()
    assert rec.ledger is not None
    rec.record(make())
    for _ in range(1000):
        if not rec.usage_log_healthy():
            break
        await asyncio.sleep(0.01)
    assert not rec.usage_log_healthy()
    path.unlink()
    await rec.aclose()
    assert len(lines(path)) == 1
