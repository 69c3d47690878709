"""The container image as an operator runs it: read-only root, no capabilities, secret as a file.

Builds the image with scripts/build-image.sh (podman), starts it against a fake Lava gateway on
loopback, sends OpenAI SDK requests through it, reads /readyz, /metrics and /usage, then stops it
with SIGTERM and expects a clean exit.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openai import AsyncOpenAI
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from ..conftest import TEST_SECRET
from .test_dashboard import SPEC, dashboard_exprs
from .tools import REPO, need, run

pytestmark = [pytest.mark.external, pytest.mark.slow]

IMAGE = "localhost/lava-sidecar:test"
CUSTOMER, METER = "cus_image_1", "chat-tokens"
ENV = {**os.environ, "CONTAINERS_CONF": str(REPO / "scripts" / "containers.conf")}


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need("podman"), *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)


@pytest.fixture(scope="session")
def image() -> str:
    need("podman")
    out = subprocess.run(["bash", str(REPO / "scripts" / "build-image.sh"), IMAGE],
                         capture_output=True, text=True, env=ENV, timeout=900, check=False)
    if out.returncode == 3:  # the script's "this machine cannot build images" status
        pytest.skip(f"cannot build the image here: {out.stderr.strip().splitlines()[-1:]}")
    assert out.returncode == 0, out.stdout + out.stderr[-4000:]
    return IMAGE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class FakeLava:
    """A Lava gateway stand-in: decodes the forward token, answers like OpenAI chat completions."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def forward(self, request: web.Request) -> web.StreamResponse:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        body = await request.json()
        self.seen.append({"u": request.query.get("u"), "token": json.loads(base64.b64decode(token)),
                          "headers": dict(request.headers), "body": body})
        usage = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
        base = {"id": "chatcmpl-1", "created": 1, "model": body["model"]}
        headers = {"x-lava-request-id": f"req_{len(self.seen)}"}
        if not body.get("stream"):
            return web.json_response({**base, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "hello from lava"}}]}, headers=headers)
        resp = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream"})
        await resp.prepare(request)
        chunk = {**base, "object": "chat.completion.chunk"}
        for delta in ({"role": "assistant", "content": ""}, {"content": "hello "}, {"content": "stream"}):
            event = {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(event)}\n\n".encode())
        done = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await resp.write(f"data: {json.dumps(done)}\n\n".encode())
        if body.get("stream_options", {}).get("include_usage"):
            await resp.write(f"data: {json.dumps({**chunk, 'choices': [], 'usage': usage})}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp


@asynccontextmanager
async def sidecar(image: str, gateway: str, tmp_path: Path,
                  extra_config: str = "") -> AsyncIterator[tuple[str, str, str]]:
    """The container on the host network, bound to loopback ports; yields (proxy, admin, name)."""
    secret = tmp_path / "secret-key"
    secret.write_text(TEST_SECRET + "\n")
    secret.chmod(0o444)  # the image's user is 10001, not the file's owner
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "usage_log: {path: '-'}\nshutdown: {drain_delay_seconds: 0.2, grace_seconds: 5}\n"
        f"meters: [{{slug: {METER}, tier_type: tokens_1m, tiers: [{{start: 0, rate: '3.00'}}]}}]\n"
        + extra_config)
    config.chmod(0o444)
    proxy, admin = free_port(), free_port()
    name = f"lava-sidecar-test-{uuid.uuid4().hex[:8]}"
    started = await asyncio.to_thread(
        podman, "run", "-d", "--name", name, "--network", "host", "--read-only",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "-v", f"{secret}:/var/run/secrets/lava/secret-key:ro",
        "-v", f"{config}:/etc/lava-sidecar/sidecar.yaml:ro",
        "-e", "LAVA_SECRET_KEY_FILE=/var/run/secrets/lava/secret-key",
        "-e", "LAVA_SIDECAR_CONFIG=/etc/lava-sidecar/sidecar.yaml",
        "-e", f"LAVA_GATEWAY_URL={gateway}",
        "-e", f"LAVA_SIDECAR_HEALTH_URL=http://127.0.0.1:{admin}/healthz",
        image, "serve", "--listen", f"127.0.0.1:{proxy}", "--admin-listen", f"127.0.0.1:{admin}")
    assert started.returncode == 0, started.stderr
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                try:
                    async with http.get(f"http://127.0.0.1:{admin}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.2)
            else:
                logs = await asyncio.to_thread(podman, "logs", name)
                pytest.fail(f"sidecar never became ready:\n{logs.stdout}\n{logs.stderr}")
        yield f"http://127.0.0.1:{proxy}", f"http://127.0.0.1:{admin}", name
    finally:
        await asyncio.to_thread(podman, "rm", "-f", "-t", "0", name)


def family_name(series: str) -> str:
    """The family a series belongs to, as the text parser names it."""
    for suffix in ("_total", "_bucket", "_sum", "_count"):
        if series.endswith(suffix) and (series in SPEC or series.removesuffix(suffix) in SPEC):
            return series.removesuffix(suffix)
    return series


def requests_of(families: dict[str, Metric]) -> dict[tuple[str, str], float]:
    samples = families.get("lava_sidecar_requests")
    return {(s.labels["code"], s.labels["customer"]): s.value
            for s in (samples.samples if samples else []) if s.name.endswith("_total")}


async def scrape_until(admin: str, done: Callable[[dict[str, Metric]], bool]) -> dict[str, Metric]:
    """/metrics, parsed, once ``done`` holds: usage is recorded just after the response ends."""
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            async with http.get(f"{admin}/metrics") as r:
                assert r.status == 200
                families = {f.name: f for f in text_string_to_metric_families(await r.text())}
            if done(families):
                return families
            await asyncio.sleep(0.1)
    pytest.fail(f"metrics never settled: {requests_of(families)}")


@pytest.mark.timeout(900)
async def test_the_image_meters_requests_and_exits_cleanly(
        image: str, aiohttp_server: Any, tmp_path: Path) -> None:
    lava = FakeLava()
    app = web.Application()
    app.router.add_post("/v1/forward", lava.forward)
    gateway = await aiohttp_server(app, host="127.0.0.1")
    async with sidecar(image, str(gateway.make_url("")).rstrip("/"), tmp_path) as (proxy, admin, name):
        client = AsyncOpenAI(base_url=f"{proxy}/v1", api_key="sk-app-local-unused", max_retries=0,
                             default_headers={"X-Lava-Customer-Id": CUSTOMER, "X-Lava-Meter": METER})
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        reply = raw.parse()
        assert reply.choices[0].message.content == "hello from lava"
        assert reply.usage is not None
        assert reply.usage.total_tokens == 15
        assert raw.headers["x-lava-request-id"] == "req_1"
        assert raw.headers["x-lava-sidecar-request-id"]
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True})
        chunks = [c async for c in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello stream"
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.prompt_tokens == 11
        await client.close()

        for seen in lava.seen:
            assert seen["u"] == "https://api.openai.com/v1/chat/completions"
            assert seen["token"]["customer_id"] == CUSTOMER
            assert seen["token"]["meter_slug"] == METER
            assert seen["token"]["secret_key"] == TEST_SECRET
            assert "sk-app-local-unused" not in json.dumps(seen["headers"])

        families = await scrape_until(admin, lambda f: requests_of(f).get(("200", CUSTOMER)) == 2)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{admin}/readyz") as r:
                assert r.status == 200
            async with http.get(f"{admin}/usage") as r:
                assert r.status == 200
                assert CUSTOMER in await r.text()
        requests = [s for s in families["lava_sidecar_requests"].samples if s.name.endswith("_total")]
        assert {frozenset(s.labels) for s in requests} == {frozenset(SPEC["lava_sidecar_requests_total"])}
        tokens = {(s.labels["customer"], s.labels["type"]): s.value
                  for s in families["lava_sidecar_tokens"].samples if s.name.endswith("_total")}
        assert tokens[(CUSTOMER, "input")] == 22
        assert tokens[(CUSTOMER, "output")] == 8
        charges = {s.labels["customer"]: s.value for s in families["lava_sidecar_charge_usd"].samples
                   if s.name.endswith("_total")}
        assert charges[CUSTOMER] == pytest.approx(30 * 3.00 / 1_000_000)
        # Every metric the dashboard queries is on the live page (labelled ones at least typed).
        queried = {family_name(m) for e in dashboard_exprs()
                   for m in re.findall(r"\b(lava_sidecar_[a-z_]+)\b", e)}
        assert queried - set(families) == set()

        health = await asyncio.to_thread(podman, "healthcheck", "run", name)
        assert health.returncode == 0, health.stdout + health.stderr

        stopped = await asyncio.to_thread(podman, "stop", "-t", "20", name)
        assert stopped.returncode == 0, stopped.stderr
        state = json.loads((await asyncio.to_thread(podman, "inspect", name)).stdout)[0]["State"]
        assert state["ExitCode"] == 0
        logs = await asyncio.to_thread(podman, "logs", name)
        usage_lines = [json.loads(line) for line in logs.stdout.splitlines()
                       if line.startswith("{") and CUSTOMER in line]
        assert len(usage_lines) == 2  # the usage log, on stdout: one line per request
        everything = logs.stdout + logs.stderr
        assert TEST_SECRET not in everything
        assert base64.b64encode(TEST_SECRET.encode()).decode()[:20] not in everything


@asynccontextmanager
async def dev_gateway() -> AsyncIterator[str]:
    """``lava-sidecar dev-gateway`` (the project's local Lava) on a loopback port."""
    if importlib.util.find_spec("proxy.emulator.command") is None:
        pytest.skip("lava-sidecar dev-gateway is not built yet")
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LAVA_")},
           "LAVA_SECRET_KEY": TEST_SECRET}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "dev-gateway", "--listen", f"127.0.0.1:{port}", cwd=REPO,
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(150):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("dev-gateway never listened")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.timeout(900)
async def test_the_image_against_the_local_lava_gateway(image: str, tmp_path: Path) -> None:
    """Merchant-billed requests (no customer set up) through the real dev-gateway."""
    async with dev_gateway() as gateway, sidecar(
            image, gateway, tmp_path, "identity: {unattributed: merchant}\n") as (proxy, admin, _):
        client = AsyncOpenAI(base_url=f"{proxy}/v1", api_key="unused", max_retries=0)
        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert reply.usage is not None
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True)
        chunks = [c async for c in stream]
        await client.close()
        assert all(c.usage is None for c in chunks)  # the usage the sidecar asked for stays hidden
        families = await scrape_until(admin, lambda f: requests_of(f).get(("200", "")) == 2)
        unattributed = families["lava_sidecar_unattributed_requests"].samples
        assert [s.value for s in unattributed if s.name.endswith("_total")] == [2]
        tokens = {s.labels["type"]: s.value for s in families["lava_sidecar_tokens"].samples
                  if s.name.endswith("_total") and s.labels["customer"] == ""}
        assert tokens["input"] == 2 * reply.usage.prompt_tokens  # the same prompt, twice
        # The mock answers with a fixed length: the stream's usage was captured (injected, then hidden).
        assert tokens["output"] == 2 * reply.usage.completion_tokens


@pytest.mark.timeout(900)
def test_the_image_is_small_non_root_and_precompiled(image: str) -> None:
    info = json.loads(podman("image", "inspect", image).stdout)[0]
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["lava-sidecar"]
    assert config["Cmd"] == ["serve"]
    assert config["Labels"]["org.opencontainers.image.title"] == "lava-sidecar"
    assert config["Labels"]["org.opencontainers.image.version"]
    assert "9464/tcp" in config["ExposedPorts"]
    assert "8787/tcp" in config["ExposedPorts"]
    assert info["Size"] < 400_000_000  # the local stand-in base; on python:3.11-slim ~170 MB
    probe = podman("run", "--rm", "--read-only", "--network", "none", "--entrypoint", "python", image,
                   "-c", PROBE)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    facts = json.loads(probe.stdout)
    assert facts["loop"] == "uvloop"
    assert facts["uncompiled"] == []
    assert facts["uid"] == 10001
    assert facts["writable_root"] is False
    assert facts["mcp_sdk"] is True  # image-extras: `lava-sidecar mcp` works in the image


PROBE = """
import json, os, pathlib, sys, importlib.util
import uvloop, proxy
root = pathlib.Path(proxy.__file__).parent
uncompiled = [str(p) for p in root.rglob("*.py")
              if not pathlib.Path(importlib.util.cache_from_source(str(p))).exists()]
uncompiled += [m for m in ("json", "asyncio", "ssl", "email")
               if not pathlib.Path(importlib.util.find_spec(m).cached).exists()]
try:
    open("/probe", "w"); writable = True
except OSError:
    writable = False
print(json.dumps({"loop": type(uvloop.new_event_loop()).__module__.split(".")[0],
                  "uncompiled": uncompiled, "uid": os.getuid(), "writable_root": writable,
                  "mcp_sdk": importlib.util.find_spec("mcp.server.mcpserver") is not None}))
"""


def test_dockerfile_is_hadolint_clean() -> None:
    out = run(need("hadolint"), str(REPO / "Dockerfile"))
    assert out.returncode == 0, out.stdout + out.stderr
