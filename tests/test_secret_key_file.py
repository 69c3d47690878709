"""One reader of the merchant key (issue 23): every command that takes it (serve, check-config,
token, billing, reconcile, mcp, dev-gateway) honours ``LAVA_SECRET_KEY_FILE`` (a Kubernetes Secret
mounted as a file), and a file that is missing, unreadable or empty gives every one of them the
same sentence, without the key. Each command runs as a user runs it: a real process, against a
real local Lava that only accepts the key the file holds."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.emulator.server import RunningGateway, running_local_gateway
from proxy.secret import NO_MERCHANT_KEY

from .conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_with(key_file: Path | None, gateway: str = "http://127.0.0.1:9", **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAVA_", "OPENAI", "ANTHROPIC"))}
    env.update(LAVA_GATEWAY_URL=gateway, PYTHONUNBUFFERED="1", **more)
    if key_file is not None:
        env["LAVA_SECRET_KEY_FILE"] = str(key_file)
    return env


def lava(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def bad_files(tmp: Path) -> Iterator[tuple[Path, str]]:
    """(LAVA_SECRET_KEY_FILE, the sentence every command says about it)."""
    missing = tmp / "missing-key"
    yield missing, f"cannot read LAVA_SECRET_KEY_FILE {missing}: No such file or directory"
    directory = tmp / "a-directory"
    directory.mkdir(exist_ok=True)
    yield directory, f"cannot read LAVA_SECRET_KEY_FILE {directory}: Is a directory"
    empty = tmp / "empty-key"
    empty.write_text("  \n")
    yield empty, f"LAVA_SECRET_KEY_FILE {empty} is empty"
    garbled = tmp / "garbled-key"  # holds the key, but is not text: never echoed
    garbled.write_bytes(b"\xff\xfe" + TEST_SECRET.encode())
    yield garbled, f"LAVA_SECRET_KEY_FILE {garbled} is not UTF-8 text"


def refuses_each_bad_file(tmp: Path, *args: str, code: int, **more: str) -> None:
    for path, sentence in bad_files(tmp):
        run = lava(*args, env=env_with(path, **more))
        assert run.returncode == code, (path, run.returncode, run.stderr)
        assert sentence in run.stderr, (sentence, run.stderr)
        assert TEST_SECRET[9:] not in run.stdout + run.stderr
        assert "Traceback" not in run.stderr
    if args[0] != "dev-gateway":  # it makes a key of its own instead
        nothing = lava(*args, env=env_with(None, **more))
        assert nothing.returncode == code
        assert NO_MERCHANT_KEY in nothing.stderr, nothing.stderr


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret-key"
    path.write_text(TEST_SECRET + "\n")  # as a mounted Secret often is: with a newline
    return path


@pytest.fixture
async def gateway() -> Iterator[RunningGateway]:
    async with running_local_gateway(TEST_SECRET) as gw:
        yield gw


def test_check_config(key_file: Path, tmp_path: Path) -> None:
    assert lava("check-config", env=env_with(key_file)).returncode == 0
    refuses_each_bad_file(tmp_path, "check-config", code=1)


def test_token(key_file: Path, tmp_path: Path) -> None:
    from proxy.tokens import decode

    run = lava("token", "--customer", "cus_1", "--meter", "m", env=env_with(key_file))
    assert run.returncode == 0, run.stderr
    assert decode(run.stdout.strip()).secret_key.reveal() == TEST_SECRET
    refuses_each_bad_file(tmp_path, "token", "--customer", "cus_1", "--meter", "m", code=2)


async def test_billing(key_file: Path, tmp_path: Path, gateway: RunningGateway) -> None:
    run = await asyncio.to_thread(lava, "billing", "--json", "meters", "list",
                                  env=env_with(key_file, gateway.url))
    assert run.returncode == 0, run.stderr  # the local Lava knows only the file's key
    assert json.loads(run.stdout) == []
    refuses_each_bad_file(tmp_path, "billing", "meters", "list", code=1)


async def test_reconcile(key_file: Path, tmp_path: Path, gateway: RunningGateway) -> None:
    log = tmp_path / "usage.jsonl"
    log.write_text("")
    run = await asyncio.to_thread(lava, "reconcile", "--usage-log", str(log),
                                  env=env_with(key_file, gateway.url))
    assert run.returncode == 0, run.stderr
    refuses_each_bad_file(tmp_path, "reconcile", "--usage-log", str(log), code=2)


def _serve_once(key_file: Path, gateway_url: str) -> int:
    """Start ``serve`` with the key file, send one request, stop it: the status Lava answered."""
    port, admin = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy", "serve", "--listen", f"127.0.0.1:{port}",
         "--admin-listen", f"127.0.0.1:{admin}"], env=env_with(key_file, gateway_url), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve never became ready"
                assert proc.poll() is None, "serve stopped"
                time.sleep(0.1)
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions", method="POST",
            data=b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}',
            headers={"Content-Type": "application/json", "X-Lava-Customer-Id": "cus_1",
                     "X-Lava-Meter": "m"})
        with pytest.raises(urllib.error.HTTPError) as refused, \
                urllib.request.urlopen(req, timeout=10):
            pass
        with refused.value as exc:
            # Not 401 invalid_secret_key: the merchant is known, only the meter is not.
            assert b"meter_not_found" in exc.read()
            return exc.code
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_serve(key_file: Path, tmp_path: Path, gateway: RunningGateway) -> None:
    """The sidecar mints forward tokens from the file's key: the local Lava reads them (it knows
    the merchant, so it gets as far as the meter it has never seen)."""
    assert await asyncio.to_thread(_serve_once, key_file, gateway.url) == 400
    refuses_each_bad_file(tmp_path, "serve", "--listen", "127.0.0.1:0", "--admin-listen",
                          "127.0.0.1:0", code=2)


async def test_mcp(key_file: Path, tmp_path: Path, gateway: RunningGateway) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    config = tmp_path / "sidecar.yaml"
    config.write_text(json.dumps({"usage_log": {"path": str(tmp_path / "usage.jsonl")}}))
    params = StdioServerParameters(command=sys.executable, args=["-m", "proxy", "mcp"], cwd=str(ROOT),
                                   env=env_with(key_file, gateway.url,
                                                LAVA_SIDECAR_CONFIG=str(config)))
    async with Client(params, mode="legacy") as agent:
        login = (await agent.call_tool("login", {})).structured_content
    assert login is not None
    assert login["key_valid"] is True  # checked against the local Lava
    refuses_each_bad_file(tmp_path, "mcp", code=2, LAVA_SIDECAR_CONFIG=str(config))


def test_dev_gateway(key_file: Path, tmp_path: Path) -> None:
    """The local Lava takes its merchant key from the file too (and a client with it is served)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "proxy", "dev-gateway", "--listen",
                             f"127.0.0.1:{port}"], env=env_with(key_file), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "local Lava on" in first, first
        assert "merchant secret key from the environment (aks_test_…)" in proc.stdout.readline()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/meters",
                                     headers={"Authorization": f"Bearer {TEST_SECRET}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
    refuses_each_bad_file(tmp_path, "dev-gateway", "--listen", "127.0.0.1:0", code=2)
