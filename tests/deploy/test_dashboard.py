"""Dashboard and alerts speak the metrics contract: every metric and label they query exists."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from .tools import CHART, need, one, render

USAGE = ("provider", "api", "model", "customer", "meter")
HIST = ("le",)
#: The metric contract (name -> labels), as specified for dashboards and alerts.
SPEC: dict[str, tuple[str, ...]] = {
    "lava_sidecar_requests_total": (*USAGE, "code"),
    "lava_sidecar_tokens_total": (*USAGE, "type"),
    "lava_sidecar_characters_total": USAGE,
    "lava_sidecar_audio_seconds_total": USAGE,
    "lava_sidecar_charge_usd_total": ("customer", "meter"),
    "lava_sidecar_usage_records_total": ("provider", "api", "source", "partial"),
    "lava_sidecar_upstream_errors_total": ("reason",),
    "lava_sidecar_connect_retries_total": (),
    "lava_sidecar_rejected_requests_total": ("reason",),
    "lava_sidecar_unattributed_requests_total": (),
    "lava_sidecar_label_overflow_total": ("label",),
    "lava_sidecar_extractor_errors_total": ("api",),
    "lava_sidecar_client_disconnects_total": ("stage",),
    "lava_sidecar_usage_log_records_total": (),
    "lava_sidecar_usage_log_errors_total": (),
    "lava_sidecar_inflight_requests": (),
    "lava_sidecar_inflight_streams": (),
    "lava_sidecar_usage_log_pending": (),
    "lava_sidecar_ready": (),
    "lava_sidecar_build_info": ("version", "python"),
    "lava_sidecar_request_duration_seconds": ("provider", "api", "stream"),
    "lava_sidecar_time_to_first_byte_seconds": ("provider", "api"),
    "lava_sidecar_overhead_seconds": ("provider", "api"),
    "gen_ai_client_token_usage": ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_token_type",
                                  "gen_ai_request_model", "gen_ai_response_model"),
    "gen_ai_client_operation_duration_seconds": ("gen_ai_operation_name", "gen_ai_provider_name",
                                                 "gen_ai_request_model", "error_type"),
}
HISTOGRAMS = {n for n in SPEC if n.endswith("_seconds") or n == "gen_ai_client_token_usage"}
#: Labels Prometheus adds to every scraped series (Kubernetes service discovery, operator).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "container", "service", "endpoint"}

_METRIC = re.compile(r"\b((?:lava_sidecar|gen_ai)_[a-z_]+)\b")
_SELECTOR = re.compile(r"\b((?:lava_sidecar|gen_ai)_[a-z_]+)\{([^}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def base_name(series: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        stem = series.removesuffix(suffix)
        if stem != series and stem in HISTOGRAMS:
            return stem
    return series


def check_expr(expr: str) -> list[str]:
    """Problems with one PromQL expression against the contract (empty when it is sound)."""
    problems: list[str] = []
    # Label names share the gen_ai_ prefix: look for metric names outside {...} and by (...).
    bare = _GROUPING.sub(" ", re.sub(r"\{[^}]*\}", " ", expr))
    names = {base_name(m) for m in _METRIC.findall(bare)}
    problems += [f"unknown metric {n}" for n in sorted(names - set(SPEC))]
    known = {n for n in names if n in SPEC}
    allowed = TARGET_LABELS | {lbl for n in known for lbl in SPEC[n]} | (
        set(HIST) if "_bucket" in expr else set())
    for metric, matchers in _SELECTOR.findall(expr):
        own = set(SPEC.get(base_name(metric), ())) | TARGET_LABELS | set(HIST)
        problems += [f"{metric} has no label {lbl}" for lbl in _MATCHER.findall(matchers) if lbl not in own]
    for group in _GROUPING.findall(expr):
        labels = {g.strip() for g in group.split(",") if g.strip()}
        problems += [f"grouping by unknown label {lbl}" for lbl in sorted(labels - allowed)]
    return problems


def dashboard() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads((CHART / "files" / "dashboard.json").read_text())
    return parsed


def dashboard_exprs() -> list[str]:
    def panels(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [p for item in items for p in (item, *panels(item.get("panels", [])))]

    exprs = [t["expr"] for p in panels(dashboard()["panels"]) for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard()["templating"]["list"] if "definition" in v]
    return exprs


def test_dashboard_parses_and_shows_what_billing_needs() -> None:
    d = dashboard()
    assert d["uid"] == "lava-sidecar"
    titles = " / ".join(p["title"].lower() for p in d["panels"])
    for needed in ("tokens", "charge", "status code", "duration", "first byte", "overhead"):
        assert needed in titles, needed
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    exprs = " ".join(dashboard_exprs())
    for metric in ("lava_sidecar_tokens_total", "lava_sidecar_charge_usd_total",
                   "lava_sidecar_requests_total", "lava_sidecar_time_to_first_byte_seconds_bucket",
                   "lava_sidecar_overhead_seconds_bucket", "lava_sidecar_request_duration_seconds_bucket"):
        assert metric in exprs
    assert "by (customer" in exprs


def test_dashboard_queries_only_metrics_and_labels_the_sidecar_exports() -> None:
    problems = {e: p for e in dashboard_exprs() if (p := check_expr(e))}
    assert not problems


@pytest.mark.external
def test_alert_queries_only_metrics_and_labels_the_sidecar_exports() -> None:
    docs = render("-f", str(CHART / "ci" / "monitoring-values.yaml"))
    rules = [r for g in one(docs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    problems = {r["alert"]: p for r in rules if (p := check_expr(r["expr"]))}
    assert not problems


def test_the_checker_catches_a_wrong_name_and_a_wrong_label() -> None:
    assert check_expr('sum by (customer) (rate(lava_sidecar_tokens_total{type="input"}[5m]))') == []
    assert check_expr("rate(lava_sidecar_token_total[5m])") == ["unknown metric lava_sidecar_token_total"]
    assert check_expr('rate(lava_sidecar_upstream_errors_total{customer="c"}[5m])') == [
        "lava_sidecar_upstream_errors_total has no label customer"]
    assert check_expr("sum by (model) (rate(lava_sidecar_overhead_seconds_count[5m]))") == [
        "grouping by unknown label model"]


def exported_families() -> dict[str, str]:
    """name -> type, from the registry the sidecar's own metrics module builds."""
    metrics = pytest.importorskip("proxy.metrics.catalog", reason="proxy/metrics.py not written yet")
    from proxy.config import Metrics as MetricsConfig

    registry = CollectorRegistry()
    metrics.Metrics(registry, MetricsConfig(), version="test", priced=True)
    text = generate_latest(registry).decode()
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))


def test_the_contract_is_what_the_sidecar_registers() -> None:
    families = exported_families()
    exported = {n if t != "counter" or n.endswith("_total") else f"{n}_total" for n, t in families.items()}
    missing = set(SPEC) - exported
    assert not missing
    assert {n for n in SPEC if families.get(n) == "histogram"} == HISTOGRAMS


@pytest.mark.external
def test_promtool_lints_the_exported_metrics(tmp_path: Any) -> None:
    metrics = pytest.importorskip("proxy.metrics.catalog", reason="proxy/metrics.py not written yet")
    from proxy.config import Metrics as MetricsConfig

    from .tools import run

    registry = CollectorRegistry()
    metrics.Metrics(registry, MetricsConfig(), version="test", priced=True)
    out = run(need("promtool"), "check", "metrics", stdin=generate_latest(registry).decode())
    assert out.returncode == 0, out.stdout + out.stderr
