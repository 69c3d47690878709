"""The usage log cannot be written: a full disk (``/dev/full``, a tiny tmpfs) or a path that cannot
exist. A clear error and a metric either way; ``usage_log.on_error`` decides whether traffic goes
on (``serve``: lines wait in memory, bounded) or is refused with a 503 in the caller's shape
(``reject``). No accepted line is lost or written twice once the disk has room again."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy import config as c
from proxy.emulator.server import running_gateway

from ..conftest import TEST_SECRET
from ..records import written_lines
from ..tmpfs import fill as fill_up
from ..tmpfs import tmpfs
from .harness import CHAT, MESSAGES, body_for, call, fault_stack, until, who
from .process import SidecarProcess, eventually, sidecar_process

pytestmark = pytest.mark.timeout(60)


def usage_log(path: str, policy: str = "serve") -> c.UsageLog:
    return dataclasses.replace(c.UsageLog(), path=path, fsync_interval=0.05, on_error=policy)  # type: ignore[arg-type]


def lines_in(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            doc = json.loads(line)
            if isinstance(doc, dict) and "request_id" in doc and "outcome" in doc:
                out.append(doc)
    return out


async def test_full_disk_keeps_serving_and_loses_nothing(tmp_path: Path, client_kind: str,
                                                         caplog: pytest.LogCaptureFixture,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.ERROR, logger="lava_sidecar.usage_log")
    async with fault_stack(tmp_path, client_kind, usage_log=usage_log("/dev/full")) as s:
        replies = [await call(s.side.url, path, stream=stream)
                   for path in (CHAT, MESSAGES) for stream in (False, True)]
        assert [r.status for r in replies] == [200] * 4
        await until(lambda: s.side.sample("lava_sidecar_usage_log_errors_total") > 0)
        assert s.side.sample("lava_sidecar_usage_log_pending") == 4
        assert s.side.runtime.usage_log_healthy() is False
    assert any("cannot write" in r.getMessage() and "No space left" in r.getMessage()
               for r in caplog.records)
    # At the clean stop the held lines go to stderr, where a log collector keeps them: once each.
    written = lines_in(capfd.readouterr().err)
    assert sorted(d["request_id"] for d in written) == \
        sorted(r.headers["x-lava-sidecar-request-id"] for r in replies)


@pytest.mark.parametrize(("path", "shape"), [(CHAT, "openai"), (MESSAGES, "anthropic")])
async def test_unwritable_path_with_reject_policy(tmp_path: Path, client_kind: str, path: str,
                                                  shape: str) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the log directory should be")
    log_path = blocker / "usage.jsonl"
    async with fault_stack(tmp_path, client_kind, usage_log=usage_log(str(log_path), "reject")) as s:
        refused = await call(s.side.url, path)
        assert refused.status == 503
        assert refused.headers["x-lava-sidecar-error"] == "usage_log_unavailable"
        doc = refused.json()
        err = doc["error"]
        assert err["code"] == "usage_log_unavailable"
        assert "usage_log.on_error" in err["message"]
        assert (doc.get("type") == "error") is (shape == "anthropic")
        assert s.gw.seen == []  # refused before anything was sent: nothing to bill, nothing lost
        assert s.side.sample("lava_sidecar_rejected_requests_total", reason="usage_log_unavailable") == 1
        assert s.side.sample("lava_sidecar_usage_log_errors_total") >= 1
        # The volume comes back: the log recovers by itself and traffic flows again.
        blocker.unlink()
        blocker.mkdir()
        await until(s.side.runtime.usage_log_healthy)
        ok = await call(s.side.url, path)
        assert ok.status == 200
        await s.side.settled()
    lines = [json.loads(x) for x in log_path.read_bytes().splitlines()]
    by_id = {d["request_id"]: d for d in lines}
    assert len(by_id) == len(lines) == 2
    assert by_id[refused.headers["x-lava-sidecar-request-id"]]["outcome"] == "rejected"
    assert by_id[ok.headers["x-lava-sidecar-request-id"]]["outcome"] == "ok"


@contextlib.contextmanager
def tiny_tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(path: Path) -> None:
    """Write until the filesystem says no."""
    with contextlib.suppress(OSError), path.open("wb") as f:
        while True:
            f.write(b"x" * 4096)
            f.flush()


async def test_disk_fills_up_then_frees(tmp_path: Path, client_kind: str) -> None:
    """A real filesystem running out of space in the middle of traffic, then getting it back."""
    with tiny_tmpfs(tmp_path / "vol", "16k") as vol:
        filler = vol / "filler"
        log_path = vol / "usage.jsonl"
        async with fault_stack(tmp_path, client_kind, usage_log=usage_log(str(log_path))) as s:
            ids = [(await call(s.side.url, CHAT)).headers["x-lava-sidecar-request-id"]]
            await s.side.settled()
            # Fill what is left, then keep serving: lines wait in memory.
            fill(filler)
            for _ in range(20):
                reply = await call(s.side.url, MESSAGES, stream=True)
                assert reply.status == 200
                ids.append(reply.headers["x-lava-sidecar-request-id"])
            await until(lambda: s.side.sample("lava_sidecar_usage_log_errors_total") > 0)
            assert not s.side.runtime.usage_log_healthy()
            filler.unlink()
            await until(s.side.runtime.usage_log_healthy)
            await s.side.settled()
            written = [json.loads(x)["request_id"] for x in log_path.read_bytes().splitlines()]
    assert sorted(written) == sorted(ids)  # every line exactly once, none torn


async def test_the_operator_sees_one_clear_error_line(tmp_path: Path) -> None:
    """In the real process: the failure is a log line in the configured format (here JSON, what a
    collector parses), at level error, naming the path and the reason; and the process serves."""
    blocker = tmp_path / "logs"
    blocker.write_text("not a directory")
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, usage_log={"path": str(blocker / "usage.jsonl")}) as sp:
        async with aiohttp.ClientSession() as http, \
                http.post(sp.url + CHAT, data=body_for(CHAT, stream=False),
                          headers={**who(), "Content-Type": "application/json"}) as resp:
            assert resp.status == 200
        sp.terminate()
        assert await sp.exit_code(within=30) == 0
    errors = [d for d in sp.logs() if d.get("level") == "error" and "cannot write" in str(d.get("msg"))]
    assert errors, sp.stderr
    assert str(blocker / "usage.jsonl") in errors[0]["msg"]
    assert "Not a directory" in errors[0]["msg"]
    # Lines that could never be written are handed to stderr at the stop, not dropped.
    assert any('"outcome":"ok"' in line for line in sp.stderr)


async def metric(sp: SidecarProcess, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(sp.admin_url + "/metrics") as resp:
        text = await resp.text()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name)


def whole_lines(path: Path) -> list[dict[str, Any]]:
    """The log's lines, asserting that every one is whole (parses) and the file ends on a line."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), data[-200:]
    return [json.loads(x) for x in data.splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["serve", "reject"])
async def test_full_disk_progresses_with_what_fits_then_writes_the_rest_once(
        tmp_path: Path, policy: str) -> None:
    """A real serve process whose log volume (a tmpfs) fills up: a backlog larger than the space
    that comes back first is written as far as it fits (whole lines), the rest when the disk is
    freed, every line once. With ``reject`` the requests refused meanwhile are lines too."""
    with tmpfs(tmp_path / "vol", "512k") as vol:
        log_path = vol.path / "usage.jsonl"
        async with running_gateway(TEST_SECRET) as gw, \
                sidecar_process(tmp_path, gw.url, usage_log={
                    "path": str(log_path), "fsync_interval_seconds": 0.05,
                    "on_error": policy}) as sp:
            async with aiohttp.ClientSession() as http:

                async def send(n: int) -> tuple[int, str]:
                    model = f"gpt-4o-mini-{n:04d}-" + "m" * 200  # ~0.7 KB lines
                    body = json.dumps({"model": model, "stream": bool(n % 2),
                                       "messages": [{"role": "user", "content": "hi"}]})
                    async with http.post(sp.url + CHAT, data=body, headers={
                            **who(), "Content-Type": "application/json"}) as resp:
                        await resp.read()
                        return resp.status, resp.headers["x-lava-sidecar-request-id"]

                sent = [await send(0)]
                await eventually(lambda: _has_lines(log_path, 1), within=10)
                # Fill the volume in 16 KiB pieces, so space can come back a piece at a time.
                pieces = 0
                while vol.free_bytes() >= 16384:
                    (vol.path / f"filler{pieces}").write_bytes(b"x" * 16384)
                    pieces += 1
                fill_up(vol.path / "filler-rest")
                sent += [await send(n) for n in range(1, 121)]
                await eventually(lambda: _errors(sp), within=10)
                # Read while the sidecar retries: a tail being written (and truncated back when the
                # disk refuses it) is not a line yet; the file is checked whole after the stop.
                stuck = len(written_lines(log_path))
                assert await metric(sp, "lava_sidecar_usage_log_pending") > 40
                # A little room (16 KiB, ~23 lines) while the backlog is ~2.5 times that.
                (vol.path / "filler0").unlink()
                await eventually(lambda: _has_lines(log_path, stuck + 10), within=10)
                partial = written_lines(log_path)
                assert await metric(sp, "lava_sidecar_usage_log_pending") > 0
                # All the room back: the rest follows.
                for p in vol.path.glob("filler*"):
                    p.unlink()
                await eventually(lambda: _has_lines(log_path, len(sent)), within=10)
            sp.terminate()
            assert await sp.exit_code(within=30) == 0
            for seen in gw.seen:
                await seen.finished()
            billed = [s.request_id for s in gw.seen if s.complete]
        lines = whole_lines(log_path)
    assert len(partial) > stuck  # progress with a backlog larger than the space
    ids = Counter(d["request_id"] for d in lines)
    assert sorted(ids) == sorted(sid for _, sid in sent)
    assert set(ids.values()) == {1}
    lava = Counter(d["lava_request_id"] for d in lines if d["lava_request_id"])
    assert sorted(lava) == sorted(billed)
    assert set(lava.values()) == {1}
    statuses = Counter(status for status, _ in sent)
    if policy == "serve":
        assert statuses == {200: len(sent)}
    else:
        assert statuses[503] > 0  # refused while the log could not be written ...
        outcomes = Counter(d["outcome"] for d in lines)
        assert outcomes["rejected"] == statuses[503]  # ... and each refusal is a line
        assert len(billed) == statuses[200]


def _line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


async def _has_lines(path: Path, n: int) -> bool:
    return _line_count(path) >= n


async def _errors(sp: SidecarProcess) -> bool:
    return await metric(sp, "lava_sidecar_usage_log_errors_total") > 0
