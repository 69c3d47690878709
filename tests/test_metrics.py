"""The metrics contract: names, labels and buckets as documented, values from the records, bounded."""

from __future__ import annotations

import platform
import shutil
import subprocess
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from proxy.config import Metrics as MetricsConfig
from proxy.metrics import OVERFLOW, Metrics
from proxy.record import RequestRecord
from proxy.usage.base import Api, Usage
from tests.records import make, records


def fresh(**cfg: object) -> tuple[CollectorRegistry, Metrics]:
    reg = CollectorRegistry()
    return reg, Metrics(reg, MetricsConfig(**cfg), version="9.9.9", priced=True)  # type: ignore[arg-type]


def labelnames(reg: CollectorRegistry) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for family in reg.collect():
        for s in family.samples:
            out.setdefault(family.name, set()).update(k for k in s.labels if k != "le")
    return out


CHAT = {"provider": "openai", "api": "chat", "model": "gpt-5-nano", "customer": "cus_1",
        "meter": "tokens"}


def test_a_successful_stream_is_counted_everywhere_it_belongs() -> None:
    reg, m = fresh()
    usage = Usage(input_tokens=1000, output_tokens=300, cache_read_tokens=200, reasoning_tokens=100,
                  source="provider", model="gpt-5-nano-2025-08-07")
    m.observe(make(usage=usage), Decimal("0.25"))
    v = reg.get_sample_value
    assert v("lava_sidecar_requests_total", {**CHAT, "code": "200"}) == 1
    assert v("lava_sidecar_tokens_total", {**CHAT, "type": "input"}) == 1000
    assert v("lava_sidecar_tokens_total", {**CHAT, "type": "output"}) == 300
    assert v("lava_sidecar_tokens_total", {**CHAT, "type": "cache_read"}) == 200
    assert v("lava_sidecar_tokens_total", {**CHAT, "type": "reasoning"}) == 100
    assert v("lava_sidecar_tokens_total", {**CHAT, "type": "cache_write"}) is None  # absent
    assert v("lava_sidecar_charge_usd_total", {"customer": "cus_1", "meter": "tokens"}) == 0.25
    assert v("lava_sidecar_usage_records_total", {"provider": "openai", "api": "chat",
                                                  "source": "provider", "partial": "false"}) == 1
    assert v("lava_sidecar_request_duration_seconds_count",
             {"provider": "openai", "api": "chat", "stream": "true"}) == 1
    assert v("lava_sidecar_request_duration_seconds_sum",
             {"provider": "openai", "api": "chat", "stream": "true"}) == 1.25
    assert v("lava_sidecar_time_to_first_byte_seconds_sum", {"provider": "openai", "api": "chat"}) == 0.3
    assert v("lava_sidecar_overhead_seconds_count", {"provider": "openai", "api": "chat"}) == 1
    genai = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai",
             "gen_ai_request_model": "gpt-5-nano", "gen_ai_response_model": "gpt-5-nano-2025-08-07"}
    assert v("gen_ai_client_token_usage_sum", {**genai, "gen_ai_token_type": "input"}) == 1000
    assert v("gen_ai_client_token_usage_sum", {**genai, "gen_ai_token_type": "output"}) == 300
    assert v("gen_ai_client_operation_duration_seconds_count",
             {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai",
              "gen_ai_request_model": "gpt-5-nano", "error_type": ""}) == 1
    assert v("lava_sidecar_build_info", {"version": "9.9.9", "python": platform.python_version()}) == 1


def test_speech_and_audio_units() -> None:
    reg, m = fresh()
    m.observe(make(api=Api.AUDIO_SPEECH, model="tts-1", stream=False,
                   usage=Usage(input_characters=1234, source="provider")), None)
    m.observe(make(api=Api.AUDIO_TRANSCRIPTION, model="whisper-1", stream=False,
                   usage=Usage(audio_seconds=Decimal("61.5"), source="provider")), None)
    base = {"provider": "openai", "customer": "cus_1", "meter": "tokens"}
    assert reg.get_sample_value("lava_sidecar_characters_total",
                                {**base, "api": "audio_speech", "model": "tts-1"}) == 1234
    assert reg.get_sample_value("lava_sidecar_audio_seconds_total",
                                {**base, "api": "audio_transcription", "model": "whisper-1"}) == 61.5
    # Not GenAI operations in the OTel sense: no gen_ai samples.
    assert reg.get_sample_value("gen_ai_client_operation_duration_seconds_count",
                                {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai",
                                 "gen_ai_request_model": "tts-1", "error_type": ""}) is None


def test_failures_are_counted_by_kind() -> None:
    reg, m = fresh()
    v = reg.get_sample_value
    m.observe(make(outcome="rejected", status=401, error_code="customer_missing", customer_id=None,
                   meter_slug=None, identity_via="none", usage=Usage()), None)
    m.observe(make(outcome="timeout", status=504, error_code="gateway_timeout",
                   upstream_error="timeout_first_byte", usage=Usage()), None)
    m.observe(make(outcome="client_disconnect", status=0, usage=Usage()), None)
    m.observe(make(outcome="client_disconnect", status=200, partial=True, extractor_error=True), None)
    m.observe(make(customer_id=None, identity_via="merchant"), None)
    m.connect_retry()
    assert v("lava_sidecar_rejected_requests_total", {"reason": "customer_missing"}) == 1
    assert v("lava_sidecar_upstream_errors_total", {"reason": "timeout_first_byte"}) == 1
    assert v("lava_sidecar_upstream_errors_total", {"reason": "dns"}) == 0  # pre-created: alertable
    assert v("lava_sidecar_client_disconnects_total", {"stage": "before_response"}) == 1
    assert v("lava_sidecar_client_disconnects_total", {"stage": "mid_stream"}) == 1
    assert v("lava_sidecar_extractor_errors_total", {"api": "chat"}) == 1
    assert v("lava_sidecar_unattributed_requests_total") == 1
    assert v("lava_sidecar_connect_retries_total") == 1
    assert v("lava_sidecar_usage_records_total", {"provider": "openai", "api": "chat",
                                                  "source": "missing", "partial": "false"}) == 2
    assert v("lava_sidecar_requests_total", {**CHAT, "customer": "", "meter": "", "code": "401"}) == 1
    assert v("lava_sidecar_requests_total", {**CHAT, "code": "0"}) == 1
    assert v("gen_ai_client_operation_duration_seconds_count",
             {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai",
              "gen_ai_request_model": "gpt-5-nano", "error_type": "gateway_timeout"}) == 1
    # A refused request never reached a model: no duration, no usage record.
    assert v("lava_sidecar_request_duration_seconds_count",
             {"provider": "openai", "api": "chat", "stream": "true"}) == 4


def test_overflow_caps_customers_and_models_and_counts_each_request() -> None:
    reg, m = fresh(max_customers=2, max_models=1)
    for c in ("a", "b", "c", "d", "a"):
        m.observe(make(customer_id=c, model=f"model-{c}"), None)
    v = reg.get_sample_value
    assert v("lava_sidecar_label_overflow_total", {"label": "customer"}) == 2
    assert v("lava_sidecar_label_overflow_total", {"label": "model"}) == 3
    assert v("lava_sidecar_requests_total", {**CHAT, "customer": OVERFLOW, "model": OVERFLOW,
                                             "code": "200"}) == 2
    assert v("lava_sidecar_requests_total", {**CHAT, "customer": "a", "model": "model-a",
                                             "code": "200"}) == 2


def test_customer_label_can_be_switched_off() -> None:
    reg, m = fresh(customer_label=False)
    m.observe(make(), Decimal(1))
    names = labelnames(reg)
    assert all("customer" not in labels for labels in names.values())
    assert reg.get_sample_value("lava_sidecar_charge_usd_total", {"meter": "tokens"}) == 1
    assert reg.get_sample_value("lava_sidecar_requests_total",
                                {k: v for k, v in CHAT.items() if k != "customer"} | {"code": "200"}) == 1


def test_no_charge_metric_without_prices() -> None:
    reg = CollectorRegistry()
    Metrics(reg, MetricsConfig(), version="1", priced=False).observe(make(), Decimal(1))
    assert "lava_sidecar_charge_usd" not in labelnames(reg)


def test_the_documented_names_and_labels() -> None:
    reg, m = fresh()
    m.observe(make(api=Api.AUDIO_SPEECH, usage=Usage(input_characters=1, audio_seconds=Decimal(1),
                                                     source="provider")), Decimal(1))
    m.observe(make(outcome="rejected", error_code="route_not_found", customer_id="x",
                   upstream_error="dns", extractor_error=True), None)
    m.observe(make(outcome="client_disconnect", upstream_error="dns", extractor_error=True), None)
    m.observe(make(identity_via="merchant", model="m" * 200, customer_id="y" * 200), None)
    m.connect_retry()
    m.lines_written(1)
    m.write_failed()
    usage = {"provider", "api", "model", "customer", "meter"}
    assert labelnames(reg) == {
        "lava_sidecar_requests": usage | {"code"},
        "lava_sidecar_tokens": usage | {"type"},
        "lava_sidecar_characters": usage,
        "lava_sidecar_audio_seconds": usage,
        "lava_sidecar_charge_usd": {"customer", "meter"},
        "lava_sidecar_usage_records": {"provider", "api", "source", "partial"},
        "lava_sidecar_upstream_errors": {"reason"},
        "lava_sidecar_connect_retries": set(),
        "lava_sidecar_rejected_requests": {"reason"},
        "lava_sidecar_unattributed_requests": set(),
        "lava_sidecar_label_overflow": {"label"},
        "lava_sidecar_extractor_errors": {"api"},
        "lava_sidecar_client_disconnects": {"stage"},
        "lava_sidecar_usage_log_records": set(),
        "lava_sidecar_usage_log_errors": set(),
        "lava_sidecar_recorder_errors": set(),
        "lava_sidecar_inflight_requests": set(),
        "lava_sidecar_inflight_streams": set(),
        "lava_sidecar_usage_log_pending": set(),
        "lava_sidecar_ready": set(),
        "lava_sidecar_build_info": {"version", "python"},
        "lava_sidecar_request_duration_seconds": {"provider", "api", "stream"},
        "lava_sidecar_time_to_first_byte_seconds": {"provider", "api"},
        "lava_sidecar_overhead_seconds": {"provider", "api"},
        "gen_ai_client_token_usage": {"gen_ai_operation_name", "gen_ai_provider_name",
                                      "gen_ai_token_type", "gen_ai_request_model",
                                      "gen_ai_response_model"},
        "gen_ai_client_operation_duration_seconds": {"gen_ai_operation_name",
                                                     "gen_ai_provider_name",
                                                     "gen_ai_request_model", "error_type"},
    }


def buckets(reg: CollectorRegistry, name: str) -> list[str]:
    family = next(f for f in reg.collect() if f.name == name)
    first = next(s.labels for s in family.samples if s.name.endswith("_bucket"))
    key = {k: v for k, v in first.items() if k != "le"}
    return [s.labels["le"] for s in family.samples
            if s.name.endswith("_bucket") and {k: v for k, v in s.labels.items() if k != "le"} == key]


def test_genai_buckets_follow_the_semantic_conventions() -> None:
    reg, m = fresh()
    m.observe(make(), None)
    assert buckets(reg, "gen_ai_client_token_usage") == [
        "1.0", "4.0", "16.0", "64.0", "256.0", "1024.0", "4096.0", "16384.0", "65536.0",
        "262144.0", "1.048576e+06", "4.194304e+06", "1.6777216e+07", "6.7108864e+07", "+Inf"]
    assert buckets(reg, "gen_ai_client_operation_duration_seconds") == [
        "0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28", "2.56", "5.12", "10.24",
        "20.48", "40.96", "81.92", "+Inf"]


def test_gauges_read_live_values_at_scrape_time() -> None:
    reg, m = fresh()
    state = {"requests": 3, "streams": 1, "ready": False, "pending": 7}
    m.watch(inflight_requests=lambda: state["requests"], inflight_streams=lambda: state["streams"],
            ready=lambda: bool(state["ready"]), usage_log_pending=lambda: state["pending"])
    v = reg.get_sample_value
    assert (v("lava_sidecar_inflight_requests"), v("lava_sidecar_inflight_streams")) == (3, 1)
    assert v("lava_sidecar_ready") == 0
    state["ready"] = True
    state["pending"] = 0
    assert v("lava_sidecar_ready") == 1
    assert v("lava_sidecar_usage_log_pending") == 0


def test_the_ledger_reports_into_its_counters() -> None:
    reg, m = fresh()
    m.lines_written(5)
    m.write_failed()
    assert reg.get_sample_value("lava_sidecar_usage_log_records_total") == 5
    assert reg.get_sample_value("lava_sidecar_usage_log_errors_total") == 1


def test_two_apps_two_registries() -> None:
    fresh()
    fresh()  # a global REGISTRY would raise "Duplicated timeseries" here


@settings(max_examples=50, deadline=None)
@given(recs=st.lists(records(customers=tuple(f"c{i}" for i in range(30))), max_size=60))
def test_label_values_stay_bounded_for_any_traffic(recs: list[RequestRecord]) -> None:
    reg, m = fresh(max_customers=3, max_models=4)
    for r in recs:
        m.observe(r, None)
    values: dict[str, set[str]] = {"customer": set(), "model": set(), "gen_ai_request_model": set()}
    for family in reg.collect():
        for s in family.samples:
            for k in values:
                if k in s.labels:
                    values[k].add(s.labels[k])
    assert len(values["customer"] - {"", OVERFLOW}) <= 3
    assert len(values["model"] - {"", OVERFLOW}) <= 4
    assert len(values["gen_ai_request_model"] - {"", OVERFLOW}) <= 4


@pytest.mark.external
@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not on PATH (.ci/run installs Debian's prometheus)")
@settings(max_examples=10, deadline=None)
@given(recs=st.lists(records(), min_size=1, max_size=30))
def test_promtool_accepts_the_exposition(recs: list[RequestRecord]) -> None:
    reg, m = fresh()
    for r in recs:
        m.observe(r, Decimal("0.5"))
    text = generate_latest(reg)
    out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
