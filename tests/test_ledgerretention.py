"""The usage log never deletes young lines to make room: a rotation that would drop a file holding
lines younger than ``usage_log.min_retention_seconds`` waits (the current file grows), is logged
once and counted, and resumes once that file is old enough; 0 keeps the old behaviour."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from proxy.config import UsageLog
from proxy.usagelog import Ledger, log_files, read_lines
from proxy.usagelog.file import LogFile
from proxy.usagelog.metrics import LedgerCollector
from tests.records import make
from tests.test_ledger import until
from tests.test_ledgerfile import lines_of

DAY = 86_400.0


def age(path: Path | str, seconds: float) -> None:
    """Make a file's last write ``seconds`` ago (what the retention measures)."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_a_rotation_that_would_drop_young_lines_waits_and_keeps_them(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "usage.jsonl"
    now = [time.time()]
    f = LogFile(str(path), max_bytes=100, backups=2, min_retention=DAY, clock=lambda: now[0])
    written = lines_of([40] * 20)
    with caplog.at_level(logging.WARNING, "lava_sidecar.usage_log"):
        for line in written:
            assert f.append([line]) == (1, None)
    # Three files were filled; the fourth rotation would have dropped usage.jsonl.2: it waited.
    assert all_of(path) == written
    assert path.stat().st_size == 40 * 16  # the current file grew past max_bytes
    assert (f.held, f.holds) == (True, 1)
    [warning] = [r.getMessage() for r in caplog.records]  # once, not once per line
    assert "usage.jsonl.2" in warning
    assert "min_retention_seconds" in warning
    # Within the minute nothing is looked at again; a day later the oldest backup may go:
    # rotation resumes, dropping only that file.
    age(f"{path}.2", DAY + 1)
    now[0] += 30
    assert f.append(lines_of([40], start=20)) == (1, None)
    assert f.held
    written += lines_of([40], start=20)
    now[0] += 31
    caplog.clear()
    with caplog.at_level(logging.WARNING, "lava_sidecar.usage_log"):
        assert f.append(lines_of([40], start=21)) == (1, None)
    f.close()
    assert not f.held
    assert "rotating again" in caplog.records[0].getMessage()
    assert all_of(path) == written[2:] + lines_of([40], start=21)


def test_with_no_backups_the_live_file_is_never_deleted_while_young(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    f = LogFile(str(path), max_bytes=100, backups=0, min_retention=DAY)
    assert f.append(lines_of([60] * 5)) == (5, None)
    f.close()
    assert path.read_bytes() == b"".join(lines_of([60] * 5))
    assert f.holds == 1


def test_zero_retention_rotates_at_max_bytes_as_before(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    f = LogFile(str(path), max_bytes=100, backups=2, min_retention=0)
    written = lines_of([40] * 10)
    for line in written:
        f.append([line])
    f.close()
    assert all_of(path) == written[-6:]
    assert f.holds == 0


def test_while_held_lines_are_written_in_batches_not_one_per_write(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    f = LogFile(str(path), max_bytes=100, backups=0, min_retention=DAY)
    f.append(lines_of([60] * 2))
    assert f.held
    writes = 0
    real = os.write

    def counting(fd: int, data: bytes) -> int:  # a spy on the syscall, not a stand-in for it
        nonlocal writes
        writes += 1
        return real(fd, data)

    os.write = counting  # type: ignore[assignment]
    try:
        assert f.append(lines_of([60] * 100, start=2)) == (100, None)
    finally:
        os.write = real  # type: ignore[assignment]
    f.close()
    assert writes == 1
    assert path.stat().st_size == 60 * 102


async def test_the_ledger_exports_holds_and_cut_fields(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    reg = CollectorRegistry()
    ledger = Ledger(UsageLog(path=str(path), fsync_interval=0.01, max_bytes=2000, backups=1))
    LedgerCollector(ledger).register(reg)
    await ledger.start()
    for i in range(20):  # ~630 bytes a line: past two files' worth
        ledger.submit(make(request_id=f"sc_{i:03d}", model="m" * (300 if i == 0 else 5)), None)
    await until(lambda: ledger.pending == 0, "lines written")
    await ledger.aclose()
    assert reg.get_sample_value("lava_sidecar_usage_log_rotation_held") == 1
    assert reg.get_sample_value("lava_sidecar_usage_log_rotation_holds_total") == 1
    assert reg.get_sample_value("lava_sidecar_usage_log_truncated_fields_total") == 1
    assert len(list(read_lines(str(path), 1))) == 20
    assert log_files(str(path), 1) == [f"{path}.1", str(path)]


def all_of(path: Path) -> list[bytes]:
    return list(read_lines(str(path), 1000))
