"""Reconciliation, pure: what the clients sent, what the gateway saw and served, and the sidecar's three
accounts of it (usage log lines, the /usage document, the /metrics page) → one ``Report``.

Every client request must have exactly one usage-log line, for the customer it named; every request
Lava answered must have exactly one line with its request id; and per customer, each token count
must be the same in the log, in /usage, in /metrics and in what the gateway's delivered bytes stated.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from prometheus_client.parser import text_string_to_metric_families

from .drive import Sent

TYPES: Final = ("input", "output", "cache_read", "cache_write", "reasoning")


@dataclass(frozen=True, slots=True)
class Served:
    """One request as the gateway saw it (from the emulator's ``Seen``)."""

    lava_id: str
    soak_id: int | None         # the client's x-soak-id, as forwarded
    customer: str | None        # from the forward token the sidecar minted
    headers_sent: bool          # a response status went out (else the sidecar has no lava id)
    tokens: Mapping[str, int]   # what the delivered bytes stated, by type


@dataclass(slots=True)
class Report:
    requests: int = 0
    records: int = 0
    lost: int = 0
    duplicated: int = 0
    misattributed: int = 0
    #: Clients gone before their handler started: nothing sent on, no line (not a loss).
    not_started: int = 0
    #: Unplanned timeouts: requests without a fault whose answer came after the sidecar had given up
    #: (a stalled machine). Recorded partial as designed; what the gateway served beyond what the
    #: sidecar saw is the ``unseen`` row, and the accounts must equal upstream minus unseen.
    late: int = 0
    #: Refused by a customer quota: one line each (checked like every other), never at the gateway.
    rate_limited: int = 0
    #: customer → source ("upstream", "log", "usage", "metrics") → type → tokens
    tokens: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.misattributed or self.mismatches
                    or self.problems)


def _note(report: Report, kind: str, message: str) -> None:
    if len(report.problems) < 50:  # enough to debug; the counters carry the totals
        report.problems.append(f"{kind}: {message}")


def reconcile(sent: Sequence[Sent], served: Sequence[Served], records: Sequence[Mapping[str, Any]],
              usage_doc: Mapping[str, Any], metrics_text: str) -> Report:
    report = Report(requests=len(sent), records=len(records))
    jobs = {s.job.n: s.job for s in sent}
    by_sidecar_id = {s.sidecar_id: s for s in sent if s.sidecar_id is not None}
    by_lava_id = {s.lava_id: s for s in served}

    ids = Counter(r["request_id"] for r in records)
    lava_ids = Counter(r["lava_request_id"] for r in records if r["lava_request_id"] is not None)
    report.duplicated = sum(n - 1 for n in ids.values() if n > 1) + \
        sum(n - 1 for n in lava_ids.values() if n > 1)

    # Requests whose sidecar id the client learned: one line each, for the right customer.
    for sid, s in by_sidecar_id.items():
        if sid not in ids:
            report.lost += 1
            _note(report, "lost", f"job {s.job.n} ({sid})")
    # The rest (clients that left before the response head) are matched by count per customer.
    # One that left before its handler even started leaves no line, and cannot have been sent on:
    # so every such request the gateway saw needs a line, and the others may lack one.
    forwarded = {sv.soak_id for sv in served}
    unknown = [s.job for s in sent if s.sidecar_id is None]
    unknown_jobs = Counter(job.customer for job in unknown)
    unknown_sent_on = Counter(job.customer for job in unknown if job.n in forwarded)
    unknown_records = Counter(r["customer"] for r in records if r["request_id"] not in by_sidecar_id)
    for customer in set(unknown_jobs) | set(unknown_records):
        most, least, got = unknown_jobs[customer], unknown_sent_on[customer], unknown_records[customer]
        if got < least:
            report.lost += least - got
            _note(report, "lost", f"{least - got} unidentified request(s) of {customer}")
        elif got > most:
            report.misattributed += got - most
            _note(report, "unexpected", f"{got - most} extra line(s) for {customer}")
        else:
            report.not_started += most - got

    for r in records:
        expected: str | None = None
        client = by_sidecar_id.get(r["request_id"])
        if client is not None:
            expected = client.job.customer
        sv = by_lava_id.get(r["lava_request_id"]) if r["lava_request_id"] else None
        if sv is not None and sv.soak_id in jobs:
            via_gateway = jobs[sv.soak_id].customer
            if expected is not None and via_gateway != expected:
                expected = "<conflict>"
            expected = expected or via_gateway
        if expected is not None and r["customer"] != expected:
            report.misattributed += 1
            _note(report, "misattributed", f"{r['request_id']}: {r['customer']} != {expected}")

    for r in records:
        if r["outcome"] != "rate_limited":
            continue
        report.rate_limited += 1
        client = by_sidecar_id.get(r["request_id"])
        if r["lava_request_id"] is not None or (client is not None and client.job.n in forwarded):
            _note(report, "refused but sent", f"{r['request_id']} was refused by a quota and still "
                  "reached the gateway")
        if r["partial"] or any(r.get(f"{t}_tokens") for t in TYPES) or r["status"] != 429:
            _note(report, "refusal line", f"{r['request_id']}: {r['status']} partial={r['partial']}")

    by_record_lava = {r["lava_request_id"]: r for r in records if r["lava_request_id"]}
    by_request_id = {r["request_id"]: r for r in records}
    sidecar_id_of = {s.job.n: s.sidecar_id for s in sent}
    unseen: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TYPES, 0))
    for sv in served:
        job = jobs.get(sv.soak_id) if sv.soak_id is not None else None
        if job is None or sv.customer != job.customer:
            report.misattributed += 1
            _note(report, "misattributed", f"gateway {sv.lava_id}: token for {sv.customer}")
        rec = by_record_lava.get(sv.lava_id) or (
            by_request_id.get(sidecar_id_of.get(job.n) or "") if job is not None else None)
        line = {t: (rec.get(f"{t}_tokens") or 0) if rec else 0 for t in TYPES}
        upstream = {t: sv.tokens.get(t, 0) for t in TYPES}
        if line == upstream:
            continue
        if rec is not None and job is not None and rec["outcome"] == "timeout" and rec["partial"] \
                and job.fault is None and not job.leave:
            report.late += 1
            for t in TYPES:
                unseen[job.customer][t] += upstream[t] - line[t]
            continue
        what = f"job {job.n} {job.path} stream={job.stream} fault={job.fault} leave={job.leave}" \
            if job else f"soak id {sv.soak_id}"
        _note(report, "usage differs", f"{what}: gateway {upstream}, line "
              f"{rec and {k: rec[k] for k in ('outcome', 'status', 'partial', 'source')}} {line}")

    _compare_tokens(report, served, records, usage_doc, metrics_text, unseen)
    return report


def _compare_tokens(report: Report, served: Iterable[Served], records: Iterable[Mapping[str, Any]],
                    usage_doc: Mapping[str, Any], metrics_text: str,
                    unseen: Mapping[str, Mapping[str, int]]) -> None:
    sums: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: {src: dict.fromkeys(TYPES, 0) for src in ("upstream", "log", "usage", "metrics")})
    for sv in served:
        for t in TYPES:
            sums[sv.customer or ""]["upstream"][t] += sv.tokens.get(t, 0)
    for r in records:
        for t in TYPES:
            sums[r["customer"] or ""]["log"][t] += r.get(f"{t}_tokens") or 0
    for customer, doc in usage_doc.get("customers", {}).items():
        for t in TYPES:
            sums[customer]["usage"][t] += int(doc["total"].get(f"{t}_tokens", 0))
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "lava_sidecar_tokens":
            continue
        for sample in family.samples:
            if sample.name == "lava_sidecar_tokens_total":
                sums[sample.labels.get("customer", "")]["metrics"][sample.labels["type"]] += \
                    int(sample.value)
    for customer, counts in unseen.items():
        sums[customer]["unseen"] = dict(counts)
    report.tokens = {c: v for c, v in sorted(sums.items())}
    for customer, by_source in report.tokens.items():
        gone = by_source.get("unseen", {})
        expected = {t: n - gone.get(t, 0) for t, n in by_source["upstream"].items()}
        for source in ("log", "usage", "metrics"):
            if by_source[source] != expected:
                report.mismatches.append(
                    f"{customer}: {source} {by_source[source]} != upstream - unseen {expected}")
