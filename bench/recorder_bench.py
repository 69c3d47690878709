"""Micro-benchmark: CPU cost of ``Recorder.record`` per finished request (µs). Not a test.

    .venv/bin/python -m bench.recorder_bench [N]

Prints, per scenario, the CPU time of the calling (event loop) thread per record, and the
process CPU per record including the usage log's worker thread (JSON encoding, writes, fsync).
The whole proxied request has a ~100 µs CPU budget; the recorder should take a small part of it.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from prometheus_client import CollectorRegistry

from proxy.config import MeterPrice, Settings, Tier, UsageLog
from proxy.metering import Recorder
from proxy.record import RequestRecord
from proxy.secret import Secret
from proxy.usage.base import Api, Usage

METER = MeterPrice("tokens", "tokens_1m", (Tier(Decimal(0), Decimal(5)),
                                            Tier(Decimal(1_000_000), Decimal(3))))


def records(n: int, customers: int) -> list[RequestRecord]:
    usage = Usage(input_tokens=1200, output_tokens=340, cache_read_tokens=1024,
                  reasoning_tokens=128, source="provider", model="gpt-5-nano-2025-08-07",
                  response_id="chatcmpl-abc")
    return [RequestRecord(
        request_id=f"sc_0123456789ab{i:08x}", lava_request_id=f"req_{i}", started_at=time.time(),
        customer_id=f"cus_{i % customers}", meter_slug="tokens", identity_via="header",
        provider="openai", api=Api.CHAT, model="gpt-5-nano", status=200, stream=True,
        usage=usage, partial=False, outcome="ok", duration=1.234, ttfb=0.210, overhead=0.00021,
    ) for i in range(n)]


async def scenario(name: str, n: int, customers: int, log: str | None, priced: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = None if log is None else (log if log != "file" else str(Path(tmp) / "u.jsonl"))
        s = Settings(secret_key=Secret("aks_test_bench"), meters=(METER,) if priced else (),
                     usage_log=UsageLog(path=path, fsync_interval=1.0))
        rec = await Recorder.open(s, CollectorRegistry(), replay=False)
        batch = records(n, customers)
        for r in batch[: min(n, 2000)]:  # warm the label caches like a running sidecar
            rec.record(r)
        # CPU time, not wall time: this VM's steal time would otherwise dominate (tooling.md 0).
        cpu0, loop0 = time.process_time(), time.thread_time()
        for r in batch:
            rec.record(r)
        loop = time.thread_time() - loop0
        await rec.aclose()
        cpu = time.process_time() - cpu0
    print(f"{name:44s} loop thread CPU {loop / n * 1e6:6.2f} us/record   "
          f"process CPU {cpu / n * 1e6:6.2f} us/record")


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    print(f"{n} records per scenario, Python {sys.version.split()[0]}")
    await scenario("metrics + totals (no log, no prices)", n, 100, None, False)
    await scenario("metrics + totals + prices", n, 100, None, True)
    await scenario("everything, log to a file", n, 100, "file", True)
    await scenario("everything, 1000 customers, log to a file", n, 1000, "file", True)


if __name__ == "__main__":
    asyncio.run(main())
