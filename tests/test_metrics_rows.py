"""The metrics rows (one per label set, counters summed at scrape time) export exactly what counting
every record into every family would: checked against a plain reference written from the rules
with prometheus_client's own Counter and Histogram, over random records."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram

from proxy.config import Metrics as MetricsConfig
from proxy.metrics import Metrics
from proxy.metrics.catalog import (
    DURATION_BUCKETS,
    GENAI_DURATION_BUCKETS,
    GENAI_OPERATION,
    GENAI_PROVIDER,
    GENAI_TOKEN_BUCKETS,
    OVERHEAD_BUCKETS,
    TTFB_BUCKETS,
)
from proxy.record import RequestRecord
from tests.records import make, records

#: The families the rows and their histogram series produce.
FAMILIES = ("lava_sidecar_requests_total", "lava_sidecar_tokens_total",
            "lava_sidecar_characters_total", "lava_sidecar_audio_seconds_total",
            "lava_sidecar_charge_usd_total", "lava_sidecar_usage_records_total",
            "lava_sidecar_request_duration_seconds", "lava_sidecar_time_to_first_byte_seconds",
            "lava_sidecar_overhead_seconds", "gen_ai_client_token_usage",
            "gen_ai_client_operation_duration_seconds")


class Reference:
    """Every record counted into every family it belongs to, one by one, as the rules say
    (docs/metrics: absent or 0 adds nothing; refused requests count as requests only; the charge
    series exists once a priced request was counted). Label values are short and few here, so no
    cap applies."""

    def __init__(self, customer: bool) -> None:
        r = self.registry = CollectorRegistry()
        self.customer = customer
        cust = ("customer",) if customer else ()
        usage = ("provider", "api", "model", *cust, "meter")
        self.requests = Counter("lava_sidecar_requests_total", "", (*usage, "code"), registry=r)
        self.tokens = Counter("lava_sidecar_tokens_total", "", (*usage, "type"), registry=r)
        self.characters = Counter("lava_sidecar_characters_total", "", usage, registry=r)
        self.audio = Counter("lava_sidecar_audio_seconds_total", "", usage, registry=r)
        self.charge = Counter("lava_sidecar_charge_usd_total", "", (*cust, "meter"), registry=r)
        self.records = Counter("lava_sidecar_usage_records_total", "",
                               ("provider", "api", "source", "partial"), registry=r)
        self.duration = Histogram("lava_sidecar_request_duration_seconds", "",
                                  ("provider", "api", "stream"), buckets=DURATION_BUCKETS, registry=r)
        self.ttfb = Histogram("lava_sidecar_time_to_first_byte_seconds", "", ("provider", "api"),
                              buckets=TTFB_BUCKETS, registry=r)
        self.overhead = Histogram("lava_sidecar_overhead_seconds", "", ("provider", "api"),
                                  buckets=OVERHEAD_BUCKETS, registry=r)
        self.genai_tokens = Histogram(
            "gen_ai_client_token_usage", "", ("gen_ai_operation_name", "gen_ai_provider_name",
                                              "gen_ai_token_type", "gen_ai_request_model",
                                              "gen_ai_response_model"),
            buckets=GENAI_TOKEN_BUCKETS, registry=r)
        self.genai_duration = Histogram(
            "gen_ai_client_operation_duration_seconds", "",
            ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model",
             "error_type"), buckets=GENAI_DURATION_BUCKETS, registry=r)

    def observe(self, rec: RequestRecord, charge: Decimal | None) -> None:
        u = rec.usage
        model, meter = rec.model or "", rec.meter_slug or ""
        who = (rec.customer_id or "",) if self.customer else ()
        key = (rec.provider, rec.api.value, model, *who, meter)
        code = str(rec.status) if 100 <= rec.status <= 599 else "0"
        self.requests.labels(*key, code).inc()
        if rec.outcome == "rejected":
            return
        for kind, n in (("input", u.input_tokens), ("output", u.output_tokens),
                        ("cache_read", u.cache_read_tokens), ("cache_write", u.cache_write_tokens),
                        ("reasoning", u.reasoning_tokens)):
            if n:
                self.tokens.labels(*key, kind).inc(n)
        if u.input_characters:
            self.characters.labels(*key).inc(u.input_characters)
        if u.audio_seconds:
            self.audio.labels(*key).inc(float(u.audio_seconds))
        if charge is not None:
            self.charge.labels(*who, meter).inc(float(charge))
        self.records.labels(rec.provider, rec.api.value, u.source,
                            "true" if rec.partial else "false").inc()
        api = rec.api.value
        self.duration.labels(rec.provider, api, "true" if rec.stream else "false").observe(rec.duration)
        if rec.stream and rec.ttfb is not None:
            self.ttfb.labels(rec.provider, api).observe(rec.ttfb)
        if rec.overhead is not None:
            self.overhead.labels(rec.provider, api).observe(rec.overhead)
        op = GENAI_OPERATION.get(rec.api)
        if op is None:
            return
        pname = GENAI_PROVIDER.get(rec.provider, rec.provider)
        ok = rec.outcome == "ok" and rec.status < 400
        error = "" if ok else (rec.error_code or rec.upstream_error or (
            str(rec.status) if rec.outcome == "ok" else rec.outcome))
        self.genai_duration.labels(op, pname, model, error).observe(rec.duration)
        if u.source == "missing":
            return
        for kind, n in (("input", u.input_tokens), ("output", u.output_tokens)):
            if n is not None:
                self.genai_tokens.labels(op, pname, kind, model, u.model or "").observe(n)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in registry.collect():
        if family.name not in FAMILIES and family.name + "_total" not in FAMILIES:
            continue
        for s in family.samples:
            if not s.name.endswith("_created"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


_short = st.sampled_from(["gpt-5", "claude-sonnet-4-5", "m3"]) | st.none()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(records(), st.none() | st.decimals(min_value=0, max_value=100, places=6)),
                max_size=40), _short, st.booleans())
def test_every_sample_is_what_counting_each_record_gives(
        batch: list[tuple[RequestRecord, Decimal | None]], model: str | None, customer: bool) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, MetricsConfig(customer_label=customer), version="t", priced=True)
    ref = Reference(customer)
    for rec, charge in batch:
        # Model names under the length cap, so the reference needs no label cap.
        if rec.model is None or len(rec.model) > 40:
            rec.model = model
        metrics.observe(rec, charge)
        ref.observe(rec, charge)
    got, want = samples(registry), samples(ref.registry)
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_a_row_per_label_set_not_per_record() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, MetricsConfig(), version="t", priced=True)
    for _ in range(1000):
        metrics.observe(make(), Decimal("0.01"))
    assert len(metrics._rows.rows) == 1
    assert registry.get_sample_value("lava_sidecar_requests_total", {
        "provider": "openai", "api": "chat", "model": "gpt-5-nano", "customer": "cus_1",
        "meter": "tokens", "code": "200"}) == 1000
