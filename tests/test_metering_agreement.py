"""For any traffic, the usage log, the totals and the metrics tell the same story.

Runs the real recorder (real log file, real registry) over hypothesis-generated records, then
rebuilds the totals from the log alone and sums the Prometheus samples.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from proxy.config import MeterPrice, Settings, Tier, UsageLog
from proxy.metering import Recorder
from proxy.record import RequestRecord
from proxy.secret import Secret
from proxy.usagelog import decode_line, read_lines
from tests.records import records

D = Decimal
METERS = (
    MeterPrice("tokens", "tokens_1m", (Tier(D(0), D(5)), Tier(D(1_000_000), D(3)))),
    MeterPrice("chars", "characters_1m", (Tier(D(0), D("15")),)),
    MeterPrice("audio", "minutes", (Tier(D(0), D("0.006")), Tier(D(10), D("0.004")))),
    MeterPrice("calls", "requests", (Tier(D(0), D("0.01")),)),
)


def sum_samples(reg: CollectorRegistry, name: str, **match: str) -> dict[str, float]:
    """Sample values of ``name`` summed by customer, over samples whose labels match ``match``."""
    out: Counter[str] = Counter()
    for family in reg.collect():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in match.items()):
                out[s.labels["customer"]] += s.value
    return dict(out)


async def run(recs: list[RequestRecord], path: Path) -> tuple[Recorder, CollectorRegistry]:
    s = Settings(secret_key=Secret("aks_test_agree"), meters=METERS,
                 usage_log=UsageLog(path=str(path), fsync_interval=0.01, max_bytes=8000, backups=10_000))
    reg = CollectorRegistry()
    rec = await Recorder.open(s, reg)
    for r in recs:
        rec.record(r)
    await rec.aclose()
    return rec, reg


async def replayed(path: Path) -> Recorder:
    rec = await Recorder.open(Settings(secret_key=Secret("aks_test_agree"), meters=METERS,
                                       usage_log=UsageLog(path=str(path), backups=10_000)),
                              CollectorRegistry())
    await rec.replay_log()
    await rec.aclose()
    return rec


@pytest.mark.slow  # real fsyncs and renames: ~0.2 s per example on the CI disk
@settings(max_examples=20, deadline=None)
@given(recs=st.lists(records(), max_size=40))
def test_log_totals_and_metrics_agree(recs: list[RequestRecord]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "usage.jsonl"
        live, reg = asyncio.run(run(recs, path))
        decoded = [decode_line(line) for line in read_lines(str(path), 10_000)]

        # The log: one line per record, in order, each readable.
        assert [d[0].request_id if d else None for d in decoded] == [r.request_id for r in recs]

        # The totals rebuilt from the log alone equal the live totals (replay re-prices too).
        again = asyncio.run(replayed(path))
        live_doc, replay_doc = live.totals.snapshot(), again.totals.snapshot()
        for doc in (live_doc, replay_doc):
            doc.pop("since")
            doc.pop("replay")
        assert replay_doc == live_doc

        # Charges in the log add up to the charges in the totals, per customer.
        # A customer none of whose requests could be priced is null in both (and in the metrics).
        logged: dict[str, Decimal] = {}
        for d in decoded:
            assert d is not None
            if d[1] is not None:
                cid = d[0].customer_id or ""
                logged[cid] = logged.get(cid, D(0)) + d[1]
        customers = live_doc["customers"]
        assert isinstance(customers, dict)
        for cid, doc in customers.items():
            charged = doc["total"]["charge_usd"]
            assert (None if charged is None else D(charged)) == logged.get(cid)

        # The metrics: every record counted once per customer; tokens and charges match totals.
        by_customer = Counter(r.customer_id or "" for r in recs)
        assert sum_samples(reg, "lava_sidecar_requests_total") == {
            c: float(n) for c, n in by_customer.items()}
        tokens_in = sum_samples(reg, "lava_sidecar_tokens_total", type="input")
        charge = sum_samples(reg, "lava_sidecar_charge_usd_total")
        for cid, doc in customers.items():
            total = doc["total"]
            assert tokens_in.get(cid, 0) == total["input_tokens"]
            if total["charge_usd"] is None:
                assert cid not in charge  # no series: unknown, not 0
                continue
            assert abs(charge[cid] - float(total["charge_usd"])) <= 1e-6 * max(
                1.0, float(total["charge_usd"]))
        written = reg.get_sample_value("lava_sidecar_usage_log_records_total")
        assert written == len(recs)
