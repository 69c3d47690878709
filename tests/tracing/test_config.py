"""The ``tracing:`` section and the OTEL_* variables, as ``load_settings`` (and so ``serve`` and
``check-config``) reads them: off unless configured, the environment wins, every problem keyed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from proxy.config import load_settings
from proxy.errors import ConfigError
from proxy.secret import Secret
from proxy.tracing.config import DEFAULT_ENDPOINT

from ..conftest import TEST_SECRET

BASE = {"LAVA_SECRET_KEY": TEST_SECRET}


def load(tmp_path: Path, section: object = None, **env: str):  # type: ignore[no-untyped-def]
    path = None
    if section is not None:
        path = tmp_path / "sidecar.yaml"
        path.write_text(yaml.safe_dump({"tracing": section}))
    return load_settings(path, {**BASE, **env}).tracing


def problems(tmp_path: Path, section: object = None, **env: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, section, **env)
    return {p.key: p.message for p in info.value.problems}


def test_off_by_default(tmp_path: Path) -> None:
    assert not load(tmp_path).enabled
    assert not load(tmp_path, {"service_name": "x"}).enabled


def test_two_variables_turn_it_on(tmp_path: Path) -> None:
    t = load(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318/",
             OTEL_SERVICE_NAME="checkout-api")
    assert t.enabled
    assert t.enabled_by == "OTEL_EXPORTER_OTLP_ENDPOINT"
    assert t.endpoint == "http://collector:4318/v1/traces"
    assert t.service_name == "checkout-api"


def test_the_traces_endpoint_is_used_as_is_and_wins(tmp_path: Path) -> None:
    t = load(tmp_path, {"endpoint": "http://file:4318/v1/traces"},
             OTEL_EXPORTER_OTLP_ENDPOINT="http://base:4318",
             OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://traces:9999/custom")
    assert t.endpoint == "http://traces:9999/custom"
    assert load(tmp_path, {"endpoint": "http://file:4318/v1/traces"}).endpoint == \
        "http://file:4318/v1/traces"
    assert load(tmp_path, {"enabled": True}).endpoint == DEFAULT_ENDPOINT


@pytest.mark.parametrize("env", [{"OTEL_SDK_DISABLED": "true"}, {"OTEL_TRACES_EXPORTER": "none"}])
def test_the_sdk_switches_turn_it_off(tmp_path: Path, env: dict[str, str]) -> None:
    assert not load(tmp_path, {"endpoint": "http://c:4318/v1/traces"}, **env).enabled
    assert not load(tmp_path, {"enabled": False}, OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4318").enabled


def test_sampler_and_batching_from_the_environment(tmp_path: Path) -> None:
    t = load(tmp_path, {"enabled": True, "sampler": "always_on", "max_queue_size": 100},
             OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0.25",
             OTEL_BSP_MAX_QUEUE_SIZE="4096", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="256",
             OTEL_BSP_SCHEDULE_DELAY="1000")
    assert (t.sampler, t.sampler_ratio) == ("parentbased_traceidratio", 0.25)
    assert (t.max_queue_size, t.max_export_batch_size, t.schedule_delay) == (4096, 256, 1.0)


def test_transport_settings_from_the_environment(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    t = load(tmp_path, {"enabled": True, "export_timeout_seconds": 3},
             OTEL_EXPORTER_OTLP_TIMEOUT="2500", OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
             OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE=str(ca))
    assert (t.export_timeout, t.compression, t.certificate) == (2.5, "gzip", str(ca))
    got = problems(tmp_path, {"enabled": True}, OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="soon",
                   OTEL_EXPORTER_OTLP_COMPRESSION="zstd")
    assert "milliseconds" in got["tracing.export_timeout_seconds"]
    assert "none or gzip" in got["tracing.compression"]
    got = problems(tmp_path, {"enabled": True, "client_certificate": str(tmp_path / "missing.pem")})
    assert "cannot read" in got["tracing.client_certificate"]


def test_headers_and_resource(tmp_path: Path) -> None:
    t = load(tmp_path, {"enabled": True, "headers": {"env": "MY_OTLP_HEADERS"},
                        "resource_attributes": {"deployment.environment": "prod", "team": "ai"}},
             MY_OTLP_HEADERS="x-honeycomb-team=abc%3D%3D,x-dataset=sidecar",
             OTEL_RESOURCE_ATTRIBUTES="team=search,service.name=from-attrs")
    assert t.headers == (("x-honeycomb-team", Secret("abc==")), ("x-dataset", Secret("sidecar")))
    assert dict(t.resource_attributes) == {"deployment.environment": "prod", "team": "search"}
    assert t.service_name == "from-attrs"
    t2 = load(tmp_path, {"enabled": True}, OTEL_EXPORTER_OTLP_HEADERS="a=1",
              OTEL_EXPORTER_OTLP_TRACES_HEADERS="b=2")
    assert t2.headers == (("b", Secret("2")),)


def test_problems_name_their_key_and_source(tmp_path: Path) -> None:
    got = problems(tmp_path, {"enabled": "yes", "max_queue_size": 0, "bogus": 1},
                   OTEL_TRACES_SAMPLER="jaeger_remote", OTEL_TRACES_SAMPLER_ARG="2",
                   OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    assert "true, false or null" in got["tracing.enabled"]
    assert "from 1 to" in got["tracing.max_queue_size"]
    assert "unknown key" in got["tracing.bogus"]
    assert "OTEL_TRACES_SAMPLER" in got["tracing.sampler"]
    assert "not gRPC" in got["tracing.endpoint"]
    got = problems(tmp_path, {"sampler": "traceidratio", "sampler_arg": 2, "enabled": True})
    assert "from 0 to 1" in got["tracing.sampler_arg"]


def test_secrets_never_appear_in_problems(tmp_path: Path) -> None:
    got = problems(tmp_path, {"enabled": True, "headers": "inline-key=hunter2"})
    assert "use {env: VAR}" in got["tracing.headers"]
    got = problems(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="ftp://user:hunter2@collector",
                   OTEL_EXPORTER_OTLP_HEADERS="no-equals-hunter2")
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in got["tracing.endpoint"]
    assert "OTEL_EXPORTER_OTLP_HEADERS" in got["tracing.headers"]
    assert all("hunter2" not in m for m in got.values())


def _child(code: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LAVA_", "OTEL_"))}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**environ, **BASE, **env}, timeout=60, check=False)


def test_off_loads_no_tracer() -> None:
    code = ("import asyncio, sys\n"
            "from proxy.config import load_settings\n"
            "from proxy.app import App\n"
            "async def main():\n"
            "    s = load_settings(None)\n"
            "    import dataclasses\n"
            "    from proxy import config as c\n"
            "    s = dataclasses.replace(s, usage_log=c.UsageLog(path=None))\n"
            "    app = await App.open(s)\n"
            "    await app.aclose()\n"
            "    import threading\n"
            "    print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'proxy.tracing.'))),\n"
            "          [t.name for t in threading.enumerate() if 'trace' in t.name])\n"
            "asyncio.run(main())\n")
    out = _child(code)
    assert out.returncode == 0, out.stderr
    # Only the config reader: no tracer, no encoder, no export thread.
    assert out.stdout.strip() == "['proxy.tracing.config'] []"
