"""The Helm chart: lint, render, validate every ci/ variant, and check the wiring that matters."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxy.config import load_settings

from ..conftest import TEST_SECRET
from .tools import (
    CHART,
    CI_VALUES,
    CRD_KINDS,
    KUBE_VERSIONS,
    REPO,
    helm_template,
    need,
    one,
    pod_specs,
    render,
    run,
    sidecar_container,
)

pytestmark = pytest.mark.external
IDS = [p.name.removesuffix("-values.yaml") for p in CI_VALUES]


def values_of(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def config_file(docs: list[dict[str, Any]], tmp_path: Path) -> Path:
    cm = one([d for d in docs if not d["metadata"]["name"].endswith("-dashboard")], "ConfigMap")
    path = tmp_path / "sidecar.yaml"
    path.write_text(cm["data"]["sidecar.yaml"])
    return path


@pytest.mark.parametrize("values", CI_VALUES, ids=IDS)
def test_lint_strict(values: Path) -> None:
    out = run(need("helm"), "lint", "--strict", str(CHART), "-f", str(values))
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("values", CI_VALUES, ids=IDS)
def test_manifests_validate(values: Path, kube: str) -> None:
    validate = need("kubernetes-validate")
    docs = render("-f", str(values), kube_version=kube)
    assert docs, "nothing rendered"
    core = [d for d in docs if d["kind"] not in CRD_KINDS]
    for crd in (d for d in docs if d["kind"] in CRD_KINDS):
        assert crd["apiVersion"] == "monitoring.coreos.com/v1"
    out = run(validate, "--strict", "-k", kube, "--quiet", "-", stdin=yaml.safe_dump_all(core))
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("values", CI_VALUES, ids=IDS)
def test_config_map_is_a_valid_sidecar_config(values: Path, tmp_path: Path) -> None:
    v = values_of(values)
    settings = load_settings(config_file(render("-f", str(values)), tmp_path),
                             env={"LAVA_SECRET_KEY": TEST_SECRET})
    standalone = v.get("mode") == "standalone"
    assert settings.listen.host == ("0.0.0.0" if standalone else "127.0.0.1")
    assert (settings.listen.port, settings.admin_listen.port) == (8787, 9464)
    if v.get("usageLogVolume", {}).get("enabled"):
        assert settings.usage_log.path == "/var/lib/lava-sidecar/usage.jsonl"


def test_default_config_mirrors_the_repo_config(tmp_path: Path) -> None:
    """The chart's `config` defaults are config/sidecar.yaml's: same file, same settings."""
    env = {"LAVA_SECRET_KEY": TEST_SECRET}
    chart = load_settings(config_file(render(), tmp_path), env=env)
    repo = load_settings(REPO / "config" / "sidecar.yaml", env=env)
    assert chart == repo
    chart_keys = set(yaml.safe_load(config_file(render(), tmp_path).read_text()))
    repo_keys = set(yaml.safe_load((REPO / "config" / "sidecar.yaml").read_text()))
    assert chart_keys - repo_keys <= {"providers", "meters"}  # commented out in the repo file
    # `mcp:` configures `lava-sidecar mcp`, which an agent host runs beside itself, never the pod.
    assert repo_keys - {"mcp"} <= chart_keys


@pytest.mark.parametrize("values", CI_VALUES, ids=IDS)
def test_pods_are_locked_down_and_read_the_secret_from_a_file(values: Path) -> None:
    docs = render("-f", str(values))
    for pod in pod_specs(docs):
        c = sidecar_container(pod)
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc["seccompProfile"]["type"] == "RuntimeDefault"
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert "LAVA_SECRET_KEY" not in env
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        secret_dir, _, secret_file = env["LAVA_SECRET_KEY_FILE"].rpartition("/")
        secret_mount = next(m for m in mounts.values() if m["mountPath"] == secret_dir)
        assert secret_mount["readOnly"] is True
        secret = volumes[secret_mount["name"]]["secret"]
        assert secret["secretName"] == "lava-secret-key"
        assert secret["items"] == [{"key": "secret-key", "path": secret_file}]
        config_dir, _, config_name = env["LAVA_SIDECAR_CONFIG"].rpartition("/")
        config_mount = next(m for m in mounts.values() if m["mountPath"] == config_dir)
        config_map = one(docs, "ConfigMap", "rel-lava-sidecar")
        assert volumes[config_mount["name"]]["configMap"]["name"] == config_map["metadata"]["name"]
        assert config_name in config_map["data"]
        assert pod["automountServiceAccountToken"] is False
    assert "aks_" not in helm_template("-f", str(values)).stdout


@pytest.mark.parametrize("values", CI_VALUES, ids=IDS)
def test_grace_period_outlasts_drain_and_streams(values: Path, tmp_path: Path) -> None:
    docs = render("-f", str(values))
    shutdown = load_settings(config_file(docs, tmp_path), env={"LAVA_SECRET_KEY": TEST_SECRET}).shutdown
    for pod in pod_specs(docs):
        c = sidecar_container(pod)
        pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        sleep = int(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
        assert pod["terminationGracePeriodSeconds"] > sleep + shutdown.drain_delay + shutdown.grace


def test_a_grace_period_too_short_for_the_streams_is_refused() -> None:
    out = helm_template("--set", "lifecycle.terminationGracePeriodSeconds=20")
    assert out.returncode != 0
    assert "in-flight streams would be killed" in out.stderr
    ok = helm_template("--set", "lifecycle.terminationGracePeriodSeconds=45")
    assert ok.returncode == 0, ok.stderr


def test_config_changes_roll_the_pods() -> None:
    def checksum_and_config(*args: str) -> tuple[str, str]:
        docs = render("-f", str(CHART / "ci" / "standalone-values.yaml"), *args)
        pod = one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]
        return pod["checksum/lava-sidecar-config"], one(docs, "ConfigMap")["data"]["sidecar.yaml"]

    base, data = checksum_and_config()
    assert checksum_and_config()[0] == base
    assert checksum_and_config("--set", "config.metrics.max_customers=50")[0] != base
    assert checksum_and_config("--set", "standalone.replicas=3")[0] == base
    # Limits and key bindings reload in place from the updated ConfigMap: the pods stay.
    limit, limit_data = checksum_and_config("--set", "config.quotas.default.requests_per_minute=60")
    assert limit == base
    assert limit_data != data
    # The quota backend is read at start only: changing it rolls the pods.
    redis = ("--set", "config.quotas.backend=redis", "--set", "quotaRedis.existingSecret=redis-url")
    assert checksum_and_config(*redis)[0] != base


def test_the_quota_redis_url_comes_only_from_a_secret(tmp_path: Path) -> None:
    docs = render("-f", str(CHART / "ci" / "standalone-values.yaml"), "--set", "config.quotas.backend=redis",
                  "--set", "quotaRedis.existingSecret=redis-url", "--set",
                  "config.quotas.default.requests_per_minute=600")
    env = {e["name"]: e for e in sidecar_container(pod_specs(docs)[0])["env"]}
    assert env["LAVA_SIDECAR_REDIS_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "redis-url", "key": "url"}}
    url = "redis://:pw@redis.internal:6379/0"
    settings = load_settings(config_file(docs, tmp_path), env={
        "LAVA_SECRET_KEY": TEST_SECRET, "LAVA_SIDECAR_REDIS_URL": url})
    assert settings.quotas.backend == "redis"
    assert settings.quotas.redis.url is not None
    assert settings.quotas.redis.url.reveal() == url
    assert settings.quotas.default.requests_per_minute == 600
    missing = helm_template("--set", "config.quotas.backend=redis")
    assert missing.returncode != 0
    assert "quotaRedis.existingSecret" in missing.stderr


def test_native_sidecar_starts_first_and_stops_last() -> None:
    pod = pod_specs(render("-f", str(CHART / "ci" / "sidecar-values.yaml")))[0]
    c = pod["initContainers"][0]
    assert c["name"] == "lava-sidecar"
    assert c["restartPolicy"] == "Always"
    assert "lifecycle" not in c  # the kubelet stops native sidecars after the app: no preStop wait
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "lava-metrics"}
    app = next(c for c in pod["containers"] if c["name"] == "app")
    env = {e["name"]: e["value"] for e in app["env"]}
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:8787/v1"
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8787/anthropic"


def test_native_sidecar_needs_kubernetes_1_29() -> None:
    out = helm_template("-f", str(CHART / "ci" / "sidecar-values.yaml"), kube_version="1.28.0")
    assert out.returncode != 0
    assert "sidecar.native=false" in out.stderr
    classic = render("-f", str(CHART / "ci" / "sidecar-classic-values.yaml"), kube_version="1.28.0")
    pod = pod_specs(classic)[0]
    assert "initContainers" not in pod
    c = sidecar_container(pod)
    assert "restartPolicy" not in c
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]


def test_standalone_binds_the_pod_ip_behind_a_service_and_a_network_policy() -> None:
    docs = render("-f", str(CHART / "ci" / "standalone-values.yaml"))
    deploy, svc = one(docs, "Deployment"), one(docs, "Service")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert deploy["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    ports = {p["name"]: p for p in sidecar_container(deploy["spec"]["template"]["spec"])["ports"]}
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= set(ports)
    assert "replicas" not in deploy["spec"]  # the HPA owns it
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deploy["metadata"]["name"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    np_ = one(docs, "NetworkPolicy")
    assert np_["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    proxy_rule, metrics_rule = np_["spec"]["ingress"]
    assert proxy_rule["ports"] == [{"port": "lava-proxy", "protocol": "TCP"}]
    assert proxy_rule["from"][0]["podSelector"] == {"matchLabels": {"lava-sidecar-client": "true"}}
    assert metrics_rule["ports"] == [{"port": "lava-metrics", "protocol": "TCP"}]
    sm = one(docs, "ServiceMonitor")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert {e["port"] for e in sm["spec"]["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]}
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_pod_monitor_selects_the_pods_that_carry_the_sidecar() -> None:
    docs = render("-f", str(CHART / "ci" / "sidecar-values.yaml"))
    pm = one(docs, "PodMonitor")
    pod_meta = one(docs, "Deployment")["spec"]["template"]["metadata"]
    assert pm["spec"]["selector"]["matchLabels"].items() <= pod_meta["labels"].items()
    ports = {p["name"]: p["containerPort"] for p in
             sidecar_container(one(docs, "Deployment")["spec"]["template"]["spec"])["ports"]}
    assert [e["port"] for e in pm["spec"]["podMetricsEndpoints"]] == ["lava-metrics"]
    assert ports["lava-metrics"] == 9464
    assert pod_meta["annotations"]["prometheus.io/port"] == "9464"


def test_service_monitor_needs_standalone_mode() -> None:
    out = helm_template("--set", "monitoring.serviceMonitor.enabled=true")
    assert out.returncode != 0
    assert "monitoring.podMonitor" in out.stderr


def test_dashboard_config_map_carries_the_grafana_sidecar_label() -> None:
    cm = one(render("-f", str(CHART / "ci" / "monitoring-values.yaml")), "ConfigMap", "-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["data"]["lava-sidecar.json"] == (CHART / "files" / "dashboard.json").read_text().rstrip("\n")


@pytest.mark.parametrize(("setting", "complaint"), [
    ("mode=daemonset", "/mode"),
    ("config.gatway.url=https://x", "gatway"),
    ("config.usage_log.on_error=ignore", "on_error"),
    ("config.metrics.max_customers=0", "max_customers"),
    ("config.identity.unattributed=free", "unattributed"),
    ("config.secret_key=aks_live_inline", "secret_key"),
    ("ports.proxy=70000", "/ports/proxy"),
    ("secretKey.existingSecret=", "existingSecret"),
    ("monitoring.prometheusRule.thresholds.upstreamErrorRatio=5", "upstreamErrorRatio"),
    ("image.pullPolicy=Sometimes", "pullPolicy"),
    ("config.quotas.default.requests_per_minute=-1", "requests_per_minute"),
    ("config.quotas.redis.url=redis://inline", "url"),
])
def test_bad_values_fail_at_install_time(setting: str, complaint: str) -> None:
    out = helm_template("--set", setting)
    assert out.returncode != 0
    assert complaint in out.stderr
    assert "aks_live_inline" not in out.stderr


PARENT_DEPLOYMENT = """\
{{- $lava := dict "Values" (index .Values "lava-sidecar") "Release" .Release "Capabilities" .Capabilities }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-shop
spec:
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels:
        app: shop
        {{- include "lava-sidecar.podLabels" $lava | nindent 8 }}
      annotations:
        {{- include "lava-sidecar.podAnnotations" $lava | nindent 8 }}
    spec:
      terminationGracePeriodSeconds: {{ include "lava-sidecar.terminationGracePeriodSeconds" $lava }}
      initContainers:
        {{- include "lava-sidecar.container" $lava | nindent 8 }}
      containers:
        - name: shop
          image: shop:1.0
          env:
            - {name: OPENAI_BASE_URL, value: "http://127.0.0.1:8787/v1"}
      volumes:
        {{- include "lava-sidecar.volumes" $lava | nindent 8 }}
"""


def test_a_parent_chart_includes_the_sidecar_in_its_own_pods(tmp_path: Path) -> None:
    """The documented sidecar-mode usage: lava-sidecar as a dependency, named templates."""
    parent = tmp_path / "shop"
    (parent / "templates").mkdir(parents=True)
    (parent / "Chart.yaml").write_text(
        "apiVersion: v2\nname: shop\nversion: 1.0.0\ndependencies:\n"
        "  - {name: lava-sidecar, version: 0.1.0}\n")
    (parent / "values.yaml").write_text(
        "lava-sidecar:\n  image: {repository: registry.example/lava-sidecar, tag: '0.1.0'}\n"
        "  config: {metrics: {max_customers: 50}}\n")
    (parent / "templates" / "deployment.yaml").write_text(PARENT_DEPLOYMENT)
    shutil.copytree(CHART, parent / "charts" / "lava-sidecar")
    docs = render(chart=parent, release="web")
    cm = one(docs, "ConfigMap")
    assert yaml.safe_load(cm["data"]["sidecar.yaml"])["metrics"]["max_customers"] == 50
    pod = one(docs, "Deployment")["spec"]["template"]
    c = pod["spec"]["initContainers"][0]
    assert c["image"] == "registry.example/lava-sidecar:0.1.0"
    assert c["restartPolicy"] == "Always"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["lava-sidecar-config"]["configMap"]["name"] == cm["metadata"]["name"]
    # The parent's pods roll on a config change like the chart's own (restart-only keys hashed).
    assert len(pod["metadata"]["annotations"]["checksum/lava-sidecar-config"]) == 64
    out = run(need("kubernetes-validate"), "--strict", "-k", "1.30.0", "--quiet", "-",
              stdin=yaml.safe_dump_all(docs))
    assert out.returncode == 0, out.stdout + out.stderr
    old_cluster = helm_template(chart=parent, release="web", kube_version="1.28.0")
    assert old_cluster.returncode != 0
    assert "sidecar.native=false" in old_cluster.stderr


def test_settings_from_the_chart_equal_settings_from_the_same_yaml(tmp_path: Path) -> None:
    """Values in the chart reach the sidecar unchanged (spot check across sections)."""
    docs = render("--set", "config.gateway.first_byte_timeout_seconds=900",
                  "--set", "config.shutdown.grace_seconds=300",
                  "--set", "config.identity.unattributed=merchant")
    s = load_settings(config_file(docs, tmp_path), env={"LAVA_SECRET_KEY": TEST_SECRET})
    assert s.gateway.first_byte_timeout == 900.0
    assert s.shutdown.grace == 300.0
    assert s.identity.unattributed == "merchant"


@pytest.mark.parametrize(("values", "base"), [
    ("minimal-values.yaml", "http://127.0.0.1:8787"),
    ("standalone-values.yaml", "http://rel-lava-sidecar.shop.svc:8787"),
])
def test_notes_tell_the_user_the_base_urls(values: str, base: str, tmp_path: Path) -> None:
    out = run(need("helm"), "install", "rel", str(CHART), "--dry-run=client", "--namespace", "shop",
              "-f", str(CHART / "ci" / values), "--kubeconfig", str(tmp_path / "none"))
    assert out.returncode == 0, out.stderr
    notes = out.stdout.split("NOTES:", 1)[1]
    assert f"OPENAI_BASE_URL={base}/v1" in notes
    assert f"ANTHROPIC_BASE_URL={base}/anthropic" in notes
    assert "X-Lava-Customer-Id" in notes
    if "standalone" in values:
        assert "0.0.0.0" in notes
        assert "ANY pod" in notes


def test_tracing_values_become_the_otel_variables(tmp_path: Path) -> None:
    standalone = str(CHART / "ci" / "standalone-values.yaml")
    off = sidecar_container(pod_specs(render("-f", standalone))[0])
    assert not [e for e in off["env"] if e["name"].startswith("OTEL_")]  # off unless configured
    docs = render("-f", standalone, "--set", "tracing.endpoint=http://otel-collector.observability:4318",
                  "--set", "tracing.serviceName=shop-sidecar",
                  "--set", "tracing.resourceAttributes=deployment.environment=prod",
                  "--set", "tracing.sampler=parentbased_traceidratio",
                  "--set-string", "tracing.samplerArg=0.25",
                  "--set", "tracing.headersSecret.name=otlp", "--set", "tracing.headersSecret.key=headers")
    env = {e["name"]: e for e in sidecar_container(pod_specs(docs)[0])["env"]}
    assert env["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"] == {
        "secretKeyRef": {"name": "otlp", "key": "headers"}}
    assert env["LAVA_K8S_POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # The rendered config with these variables (Kubernetes expands $(VAR) references) is traced.
    values = {n: e["value"] for n, e in env.items() if "value" in e}
    values["OTEL_RESOURCE_ATTRIBUTES"] = values["OTEL_RESOURCE_ATTRIBUTES"].replace(
        "$(LAVA_K8S_NAMESPACE)", "shop").replace("$(LAVA_K8S_POD_NAME)", "rel-abc")
    t = load_settings(config_file(docs, tmp_path),
                      env={"LAVA_SECRET_KEY": TEST_SECRET, **values,
                           "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=from-the-secret"}).tracing
    assert t.enabled
    assert t.endpoint == "http://otel-collector.observability:4318/v1/traces"
    assert (t.service_name, t.sampler, t.sampler_ratio) == ("shop-sidecar", "parentbased_traceidratio", 0.25)
    assert dict(t.resource_attributes) == {"k8s.namespace.name": "shop", "k8s.pod.name": "rel-abc",
                                           "deployment.environment": "prod"}
    bad = helm_template("-f", standalone, "--set", "tracing.sampler=jaeger_remote")
    assert bad.returncode != 0
    assert "sampler" in bad.stderr
