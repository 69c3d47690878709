"""The PrometheusRule: promtool checks the rules and unit-tests each alert (fires and stays quiet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .tools import CHART, need, one, render, run

pytestmark = pytest.mark.external

NS = 'namespace="shop"'
POD = 'namespace="shop", pod="web-1", instance="10.0.0.7:9464"'
REQ = 'provider="openai", api="chat", model="gpt-4o-mini", customer="cus_1", meter="chat-tokens"'


def series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def records(provider: str, source: str, values: str) -> dict[str, str]:
    labels = f'{POD}, provider="{provider}", api="chat", source="{source}", partial="false"'
    return series("lava_sidecar_usage_records_total", labels, values)


#: alert -> (input series, eval time, labels of the firing alert or None, quiet series)
CASES: dict[str, dict[str, Any]] = {
    "LavaSidecarDown": {
        "fires": [series("up", f'job="shop/rel-lava-sidecar", {POD}', "0x10"),
                  series("up", 'job="other-app", namespace="shop", pod="x", instance="i"', "0x10")],
        "at": "6m",
        "labels": {"severity": "critical", "job": "shop/rel-lava-sidecar", "namespace": "shop",
                   "pod": "web-1", "instance": "10.0.0.7:9464"},
        "quiet": [series("up", f'job="shop/rel-lava-sidecar", {POD}', "0 0 0 1x10")],
    },
    "LavaSidecarNotReady": {
        "fires": [series("lava_sidecar_ready", POD, "0x15")],
        "at": "11m",
        "labels": {"severity": "warning", "namespace": "shop", "pod": "web-1", "instance": "10.0.0.7:9464"},
        "quiet": [series("lava_sidecar_ready", POD, "0x5 1x10")],  # came up after 5 minutes
    },
    "LavaSidecarUsageMissing": {
        "fires": [
            records("openai", "provider", "0+60x40"),
            records("openai", "missing", "0+6x40"),
        ],
        "at": "35m",
        "labels": {"severity": "warning", "namespace": "shop", "provider": "openai", "api": "chat"},
        "quiet": [
            records("openai", "provider", "0+1000x40"),
            records("openai", "missing", "0+1x40"),
        ],  # 0.1 %: a client that went away before any usage, not a provider problem
    },
    "LavaSidecarUsageEstimated": {
        "fires": [
            records("groq", "provider", "0+10x80"),
            records("groq", "estimated", "0+5x80"),
        ],
        "at": "70m",
        "labels": {"severity": "warning", "namespace": "shop", "provider": "groq", "api": "chat"},
        "quiet": [
            records("groq", "provider", "0+100x80"),
            records("groq", "estimated", "0+1x80"),
        ],
    },
    "LavaSidecarUpstreamErrors": {
        "fires": [
            series("lava_sidecar_requests_total", f'{POD}, {REQ}, code="200"', "0+90x30"),
            series("lava_sidecar_requests_total", f'{POD}, {REQ}, code="502"', "0+10x30"),
            series("lava_sidecar_upstream_errors_total", f'{POD}, reason="timeout_idle"', "0+10x30"),
        ],
        "at": "25m",
        "labels": {"severity": "critical", "namespace": "shop"},
        "quiet": [
            series("lava_sidecar_requests_total", f'{POD}, {REQ}, code="200"', "0+99x30"),
            series("lava_sidecar_upstream_errors_total", f'{POD}, reason="reset"', "0+1x30"),
        ],
    },
    "LavaSidecarPaymentRequired": {
        "fires": [
            series("lava_sidecar_requests_total", f'{POD}, {REQ}, code="200"', "0+80x30"),
            series("lava_sidecar_requests_total", f'{POD}, {REQ}, code="402"', "0+20x30"),
        ],
        "at": "25m",
        "labels": {"severity": "warning", "namespace": "shop", "meter": "chat-tokens"},
        "quiet": [
            series("lava_sidecar_requests_total", f'{POD}, {REQ}, code="200"', "0+100x30"),
            series("lava_sidecar_requests_total", f'{POD}, {REQ}, code="402"', "0+1x30"),
        ],
    },
    "LavaSidecarCustomerLabelOverflow": {
        "fires": [series("lava_sidecar_label_overflow_total", f'{POD}, label="customer"', "0 0 5 10 15")],
        "at": "4m",
        "labels": {"severity": "warning", "namespace": "shop", "pod": "web-1"},
        "quiet": [series("lava_sidecar_label_overflow_total", f'{POD}, label="customer"', "0x5"),
                  series("lava_sidecar_label_overflow_total", f'{POD}, label="model"', "0 0 5 10 15")],
    },
    "LavaSidecarUsageLogErrors": {
        "fires": [series("lava_sidecar_usage_log_errors_total", POD, "0 0 1 1 1")],
        "at": "4m",
        "labels": {"severity": "critical", "namespace": "shop", "pod": "web-1"},
        "quiet": [series("lava_sidecar_usage_log_errors_total", POD, "3x10")],  # old errors, none new
    },
    "LavaSidecarExtractorErrors": {
        "fires": [series("lava_sidecar_extractor_errors_total", f'{POD}, api="messages"', "0 0 2")],
        "at": "3m",
        "labels": {"severity": "warning", "namespace": "shop", "api": "messages"},
        "quiet": [series("lava_sidecar_extractor_errors_total", f'{POD}, api="messages"', "0x20")],
    },
}


@pytest.fixture(scope="module")
def rule_groups() -> list[dict[str, Any]]:
    docs = render("-f", str(CHART / "ci" / "monitoring-values.yaml"), release="rel", namespace="shop")
    groups: list[dict[str, Any]] = one(docs, "PrometheusRule")["spec"]["groups"]
    return groups


def alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def test_promtool_accepts_the_rules(rule_groups: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule_groups}))
    out = run(need("promtool"), "check", "rules", str(path))
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_is_unit_tested_and_explained(rule_groups: list[dict[str, Any]]) -> None:
    found = alerts(rule_groups)
    assert set(found) == set(CASES)
    for name, rule in found.items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"], name
        assert rule["annotations"]["description"], name


@pytest.mark.parametrize("alert", sorted(CASES))
def test_alert_fires_when_it_should_and_not_otherwise(
        alert: str, rule_groups: list[dict[str, Any]], tmp_path: Path) -> None:
    # Annotations are text for humans (checked by `promtool check rules`); compare labels only.
    bare = [{**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
            for g in rule_groups]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": bare}))
    case = CASES[alert]
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {"interval": "1m", "input_series": case["fires"],
             "alert_rule_test": [{"eval_time": case["at"], "alertname": alert,
                                  "exp_alerts": [{"exp_labels": case["labels"]}]}]},
            {"interval": "1m", "input_series": case["quiet"],
             "alert_rule_test": [{"eval_time": case["at"], "alertname": alert, "exp_alerts": []}]},
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    out = run(need("promtool"), "test", "rules", str(tmp_path / "tests.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_thresholds_come_from_values(tmp_path: Path) -> None:
    docs = render("--set", "monitoring.prometheusRule.enabled=true",
                  "--set-json", "monitoring.prometheusRule.thresholds.paymentRequiredRatio=0.25",
                  "--set", "monitoring.prometheusRule.upSelector=job=\"kubernetes-pods\"")
    rules = alerts(one(docs, "PrometheusRule")["spec"]["groups"])
    assert rules["LavaSidecarPaymentRequired"]["expr"].rstrip().endswith("> 0.25")
    assert rules["LavaSidecarDown"]["expr"] == 'up{job="kubernetes-pods"} == 0'
