"""The usage log writer: nothing accepted is lost on a clean stop; failures are loud once, retried."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from proxy.config import UsageLog
from proxy.usagelog import Ledger, decode_line, log_files, read_lines
from tests.records import make
from tests.tmpfs import fill, tmpfs


class Seen:
    """A ``LedgerObserver`` that keeps counts (the real one is ``Metrics``, tested elsewhere)."""

    def __init__(self) -> None:
        self.written = 0
        self.writes = 0
        self.failures = 0

    def lines_written(self, n: int) -> None:
        self.written += n
        self.writes += 1

    def write_failed(self) -> None:
        self.failures += 1


async def until(cond: Callable[[], bool], what: str) -> None:
    """Wait for the worker thread to get somewhere; bounded, and not a timing assertion."""
    for _ in range(1000):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def cfg(path: Path | str, **kw: object) -> UsageLog:
    return UsageLog(path=str(path), **{"fsync_interval": 0.01, **kw})  # type: ignore[arg-type]


def ids(path: Path, backups: int = 5) -> list[str]:
    out = []
    for line in read_lines(str(path), backups):
        decoded = decode_line(line)
        assert decoded is not None, line
        out.append(decoded[0].request_id)
    return out


async def test_clean_stop_writes_and_syncs_everything_accepted(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    seen = Seen()
    # A long interval: nothing would be written before aclose unless aclose flushes.
    ledger = Ledger(cfg(path, fsync_interval=3600.0), observer=seen)
    await ledger.start()
    for i in range(2500):  # over the wake mark, so some go early and the rest at close
        assert ledger.submit(make(request_id=f"sc_{i:06d}"), None)
    await until(lambda: seen.written >= 2500, "a burst is written before the tick")
    # Written, but the fsync waits for its interval (an hour here): all still pending.
    assert ledger.pending == 2500
    await ledger.aclose()
    assert ids(path) == [f"sc_{i:06d}" for i in range(2500)]
    assert seen.written == 2500
    assert ledger.pending == 0
    assert ledger.submit(make(), None) is False  # closed: refused, not silently lost
    await ledger.aclose()  # idempotent


async def test_a_line_reaches_the_file_without_waiting_for_a_tick(tmp_path: Path) -> None:
    # An hour between fsyncs: the line can only be in the file because submit woke the writer.
    path = tmp_path / "usage.jsonl"
    seen = Seen()
    ledger = Ledger(cfg(path, fsync_interval=3600.0), observer=seen)
    await ledger.start()
    for n in range(1, 4):  # each time the writer has gone idle again
        ledger.submit(make(request_id=f"sc_{n}"), None)
        await until(lambda n=n: seen.written == n, "the line is written")  # type: ignore[misc]
        assert ids(path) == [f"sc_{i}" for i in range(1, n + 1)]
    assert ledger.pending == 3  # written, not yet synced: that waits for the interval
    # A burst in one turn of the loop wakes the writer once, not once per line.
    for i in range(1000):
        ledger.submit(make(request_id=f"sc_b{i}"), None)
    await until(lambda: seen.written == 1003, "the burst is written")
    assert seen.writes - 3 < 100, seen.writes
    await ledger.aclose()
    assert ledger.pending == 0


async def test_lines_are_written_between_ticks(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    ledger = Ledger(cfg(path))
    await ledger.start()
    ledger.submit(make(), None)
    await until(lambda: ledger.pending == 0, "the batch is written and synced")
    assert ids(path) == ["sc_test01"]
    await ledger.aclose()


async def test_rotation_keeps_every_line_once(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    ledger = Ledger(cfg(path, max_bytes=4096, backups=100))
    await ledger.start()
    for i in range(300):
        ledger.submit(make(request_id=f"sc_{i:06d}"), None)
        if i % 50 == 0:
            await asyncio.sleep(0)
    await ledger.aclose()
    assert len(log_files(str(path), 100)) > 5
    assert ids(path, backups=100) == [f"sc_{i:06d}" for i in range(300)]


async def test_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    ledger = Ledger(cfg("-"))
    await ledger.start()
    ledger.submit(make(), None)
    await ledger.aclose()
    out = capfd.readouterr().out.splitlines()
    assert [json.loads(line)["request_id"] for line in out] == ["sc_test01"]


async def test_disk_full_then_freed_loses_nothing(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "usage.jsonl"
    path.symlink_to("/dev/full")
    seen = Seen()
    ledger = Ledger(cfg(path), observer=seen)
    await ledger.start()
    assert ledger.healthy  # opening /dev/full works; writing does not
    for i in range(5):
        ledger.submit(make(request_id=f"sc_{i}"), None)
    await until(lambda: not ledger.healthy, "the write failure is noticed")
    await until(lambda: seen.failures >= 3, "retries keep failing")
    for i in range(5, 10):
        ledger.submit(make(request_id=f"sc_{i}"), None)
    assert ledger.pending == 10
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, "one message per failure episode, not one per line or retry"
    assert "No space left on device" in errors[0].getMessage()
    path.unlink()  # space freed: the path is a plain file from now on
    await until(lambda: ledger.healthy and ledger.pending == 0, "the backlog is written")
    assert any("writable again" in r.getMessage() for r in caplog.records)
    await ledger.aclose()
    assert ids(path) == [f"sc_{i}" for i in range(10)]
    assert seen.written == 10


async def test_a_nearly_full_disk_takes_what_fits_and_the_rest_follows_once(
        tmp_path: Path) -> None:
    """A real 256 KiB tmpfs with ~100 KB free, and ~400 KB of lines: progress, then all of it."""
    with tmpfs(tmp_path / "vol", "256k") as vol:
        path = vol.path / "usage.jsonl"
        fill(vol.path / "filler", leave=100_000)
        seen = Seen()
        ledger = Ledger(cfg(path, fsync_interval=0.05), observer=seen)
        await ledger.start()
        pad = "p" * 300
        for i in range(1000):
            assert ledger.submit(make(request_id=f"sc_{i:04d}", model=pad), None)
        await until(lambda: not ledger.healthy, "the disk fills")
        await until(lambda: seen.failures >= 3, "retries go on")
        assert 0 < seen.written < 1000  # what fitted was written; the rest waits in memory
        data = path.read_bytes()
        assert data.endswith(b"\n")  # never a torn line
        assert ids(path) == [f"sc_{i:04d}" for i in range(seen.written)]
        assert ledger.pending >= 1000 - seen.written
        vol.resize("2m")
        await until(lambda: ledger.healthy and ledger.pending == 0, "the rest is written")
        await ledger.aclose()
        assert ids(path) == [f"sc_{i:04d}" for i in range(1000)]
        assert seen.written == 1000


async def test_unwritable_at_start_is_unhealthy_at_once_then_recovers(tmp_path: Path) -> None:
    missing = tmp_path / "not-yet"
    ledger = Ledger(cfg(missing / "usage.jsonl"))
    await ledger.start()
    assert not ledger.healthy  # known before the first request, so `reject` applies to it
    missing.mkdir()
    await until(lambda: ledger.healthy, "the directory appears")
    ledger.submit(make(), None)
    await ledger.aclose()
    assert ids(missing / "usage.jsonl") == ["sc_test01"]


async def test_a_full_buffer_drops_new_lines_counts_them_and_says_so_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "usage.jsonl"
    path.symlink_to("/dev/full")
    seen = Seen()
    ledger = Ledger(cfg(path), observer=seen, max_pending=5)
    await ledger.start()
    accepted = [ledger.submit(make(request_id=f"sc_{i}"), None) for i in range(8)]
    assert accepted == [True] * 5 + [False] * 3
    assert not ledger.healthy
    assert seen.failures >= 3
    drops = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drops) == 1
    path.unlink()
    await until(lambda: ledger.healthy, "the buffer drains")
    assert ledger.submit(make(request_id="sc_after"), None)
    await ledger.aclose()
    assert ids(path) == [f"sc_{i}" for i in range(5)] + ["sc_after"]


async def test_still_failing_at_stop_hands_the_lines_to_stderr(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "usage.jsonl"
    path.symlink_to("/dev/full")
    ledger = Ledger(cfg(path))
    await ledger.start()
    ledger.submit(make(request_id="sc_last"), None)
    await ledger.aclose()
    err = capfd.readouterr().err.splitlines()
    assert [json.loads(line)["request_id"] for line in err if line.startswith("{")] == ["sc_last"]


async def test_never_started_still_flushes_on_close(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    ledger = Ledger(cfg(path))
    ledger.submit(make(), None)
    await ledger.aclose()
    assert ids(path) == ["sc_test01"]


def test_no_path_no_ledger() -> None:
    with pytest.raises(ValueError, match="no ledger"):
        Ledger(UsageLog(path=None))
