"""``lava-sidecar dev-gateway`` as a user runs it: a real process, a real port, SIGTERM to stop."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from proxy.emulator.command import listen_address, passthrough_pair
from tests.emulator.gateway_helpers import OPENAI

ROOT = Path(__file__).resolve().parents[2]
CHAT = {"model": "gpt-5-nano", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def test_argument_types() -> None:
    assert listen_address("127.0.0.1:8788") == ("127.0.0.1", 8788)
    assert listen_address("[::1]:0") == ("::1", 0)
    assert passthrough_pair("API.openai.com=http://127.0.0.1:9") == (
        "api.openai.com", "http://127.0.0.1:9")
    for bad in ("8788", "host:", "host:99999", ":80"):
        with pytest.raises(argparse.ArgumentTypeError):
            listen_address(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        passthrough_pair("api.openai.com=ftp://x")


@asynccontextmanager
async def dev_gateway(*args: str, env: dict[str, str]) -> AsyncIterator[tuple[str, list[str]]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "dev-gateway", "--listen", "127.0.0.1:0", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not any("LAVA_GATEWAY_URL=" in line for line in lines):
                line = (await proc.stdout.readline()).decode()
                assert line, "dev-gateway exited early: " + "".join(lines)
                lines.append(line)
        url = re.search(r"LAVA_GATEWAY_URL=(\S+)", lines[-1])
        assert url is not None
        yield url.group(1), lines
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rest, _ = await proc.communicate()
        lines.append(rest.decode())
    assert proc.returncode == 0, "".join(lines)
    assert "dev-gateway: stopped" in lines[-1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAVA_")}
    return {**env, **extra}


async def test_generates_and_prints_a_key_once_and_serves(tmp_path: Path) -> None:
    db = tmp_path / "lava.db"
    async with dev_gateway("--db", str(db), env=clean_env()) as (url, lines), \
            aiohttp.ClientSession() as s:
        keys = re.findall(r"aks_test_[0-9a-f]{32}", "".join(lines))
        assert len(keys) == 1
        headers = {"Authorization": "Bearer " + keys[0]}
        async with s.post(f"{url}/v1/forward?u={OPENAI}/chat/completions", json=CHAT,
                          headers=headers) as r:
            assert r.status == 200
            assert (await r.json())["usage"]["completion_tokens"] == 2
        async with s.get(f"{url}/v1/requests", headers=headers) as r:  # the accounts side
            assert r.status == 200
            assert [q["model_usage"]["output_tokens"] for q in (await r.json())["data"]] == [2]
        async with s.post(f"{url}/v1/forward?u={OPENAI}/chat/completions", json=CHAT,
                          headers={"Authorization": "Bearer aks_test_other"}) as r:
            assert r.status == 401
        async with s.get(f"{url}/dashboard/requests") as r:  # the pages, on SQLite
            assert r.status == 200
            assert "gpt-5-nano" in await r.text()
    assert f"dev-gateway: dashboard {url}/" in "".join(lines)
    assert db.exists()


async def test_key_from_the_environment_is_never_printed() -> None:
    key = "aks_test_fromtheenvironment0123"
    async with dev_gateway("--output-tokens", "5", "--stream-chunks", "2",
                           env=clean_env(LAVA_SECRET_KEY=key)) as (url, lines), \
            aiohttp.ClientSession() as s, s.post(f"{url}/v1/forward?u={OPENAI}/chat/completions",
                      json={**CHAT, "max_tokens": 100},
                      headers={"Authorization": "Bearer " + key}) as r:
        assert (await r.json())["usage"]["completion_tokens"] == 5
    output = "".join(lines)
    assert key not in output
    assert "aks_test_…" in output


async def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("not: [a, cassette")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "dev-gateway", "--cassettes", str(tmp_path), cwd=ROOT,
        env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"broken.yaml" in err
