"""The usage log written by the event loop where an append cannot wait, by its worker elsewhere.

At a pod's usual rates a line used to cost a wake of the worker thread, the largest piece of a
request's CPU (``python -m bench.lowrate``). Now the loop writes its turn's lines itself when the
file is a regular file on a local filesystem or a pipe with room; these tests hold it to that,
and to what must not change: lines in order, each once, and a loop that never waits on a reader
that stopped reading.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from proxy.config import UsageLog
from proxy.usagelog import Ledger, decode_line
from proxy.usagelog.file import LOCAL_FILESYSTEMS, LogFile, filesystem_of
from tests.records import make
from tests.test_ledger import ids, until
from tests.tmpfs import tmpfs

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
40 22 0:35 / /mnt/share rw,relatime shared:20 - nfs4 server:/export rw,vers=4.2
41 40 0:36 / /mnt/share/scratch rw shared:21 - tmpfs tmpfs rw
42 22 0:37 / /var/log/my\\040logs rw shared:22 - xfs /dev/sdb1 rw
43 22 0:38 / /data rw shared:23 - ext4 /dev/sdc1 rw
44 22 0:39 / /data rw shared:24 - fuse.sshfs host:/data rw
45 22 0:40 / /datasets rw shared:25 - ext4 /dev/sdd1 rw
"""


class Threads:
    """A ``LedgerObserver`` that notes which thread wrote each batch."""

    def __init__(self) -> None:
        self.by: list[int] = []
        self.written = 0

    def lines_written(self, n: int) -> None:
        self.by.append(threading.get_ident())
        self.written += n

    def write_failed(self) -> None:
        return None

    def writes_after(self, n: int) -> int:
        return len(self.by) - n


def test_the_filesystem_of_a_path_is_its_deepest_mount() -> None:
    assert filesystem_of("/var/lib/x.jsonl", MOUNTINFO) == "ext4"
    assert filesystem_of("/mnt/share/usage.jsonl", MOUNTINFO) == "nfs4"
    assert filesystem_of("/mnt/share/scratch/usage.jsonl", MOUNTINFO) == "tmpfs"
    assert filesystem_of("/var/log/my logs/usage.jsonl", MOUNTINFO) == "xfs"  # \040 is a space
    assert filesystem_of("/var/log/my/usage.jsonl", MOUNTINFO) == "ext4"
    # Mounted over the same point: the later mount is the one a path reaches.
    assert filesystem_of("/data/usage.jsonl", MOUNTINFO) == "fuse.sshfs"
    # A mount point is a whole path component: /datasets is not under /data.
    assert filesystem_of("/datasets/usage.jsonl", MOUNTINFO) == "ext4"
    assert filesystem_of("/anything", "") is None
    assert {"nfs4", "fuse.sshfs", "proc"}.isdisjoint(LOCAL_FILESYSTEMS)


def test_a_local_file_takes_lines_now_until_rotation_is_due(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "vol", "1m") as vol:
        path = vol.path / "usage.jsonl"
        f = LogFile(str(path), max_bytes=100, backups=1)
        f.open()
        assert f.loop_safe
        assert f.write_now([b"a" * 39 + b"\n", b"b" * 39 + b"\n"]) == (2, None)
        # The next line would cross max_bytes: rotating fsyncs and renames, the worker's job.
        assert f.write_now([b"c" * 39 + b"\n"]) is None
        assert f.append([b"c" * 39 + b"\n"]) == (1, None)
        assert f.write_now([b"d" * 9 + b"\n"]) == (1, None)
        f.close()
        assert (vol.path / "usage.jsonl.1").read_bytes() == b"a" * 39 + b"\n" + b"b" * 39 + b"\n"
        assert path.read_bytes() == b"c" * 39 + b"\n" + b"d" * 9 + b"\n"


def test_a_full_local_disk_is_an_error_with_only_whole_lines_kept(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "vol", "64k") as vol:
        path = vol.path / "usage.jsonl"
        f = LogFile(str(path), max_bytes=1 << 20, backups=1)
        f.open()
        lines = [f"{i:05d}".encode() + b"x" * 994 + b"\n" for i in range(100)]  # 100 KB > 64 KiB
        result = f.write_now(lines)
        assert result is not None
        n, err = result
        assert 0 < n < 100
        assert err is not None
        assert err.errno == errno.ENOSPC
        assert path.read_bytes() == b"".join(lines[:n])


def test_a_device_is_never_written_by_the_loop(tmp_path: Path) -> None:
    null = tmp_path / "null"
    null.symlink_to("/dev/null")
    f = LogFile(str(null), max_bytes=1 << 20, backups=1)
    f.open()
    assert not f.loop_safe
    assert f.write_now([b"x\n"]) is None
    f.close()


def test_a_pipe_takes_lines_only_while_they_fit(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        f = LogFile(str(fifo), max_bytes=1 << 20, backups=1)
        f.open()
        assert f.loop_safe
        line = b"y" * 1023 + b"\n"
        taken = 0
        for _ in range(10_000):
            result = f.write_now([line])
            if result is None:
                break
            assert result == (1, None)
            taken += 1
        assert taken * len(line) >= 4096  # a pipe holds at least a page
        assert f.write_now([line]) is None  # full: the loop would wait, so it does not write
        got = b""
        while len(got) < taken * len(line):
            got += os.read(reader, 1 << 16)
        assert got == line * taken
        assert f.write_now([line]) == (1, None)  # drained: room again
        # A line over PIPE_BUF could go in pieces: it and what follows are the worker's.
        big = b"z" * 4999 + b"\n"
        assert f.write_now([line, big, line]) == (1, None)
        assert f.write_now([big]) is None
        got = b""
        while len(got) < 2 * len(line):
            got += os.read(reader, 1 << 16)
        assert got == line * 2
        f.close()
    finally:
        os.close(reader)


async def test_a_line_is_in_the_file_after_one_turn_of_the_loop(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "vol", "1m") as vol:
        path = vol.path / "usage.jsonl"
        seen = Threads()
        ledger = Ledger(UsageLog(path=str(path), fsync_interval=3600.0), observer=seen)
        await ledger.start()
        for n in range(1, 4):
            ledger.submit(make(request_id=f"sc_{n}"), None)
            await asyncio.sleep(0)
            assert ids(path) == [f"sc_{i}" for i in range(1, n + 1)]
        # Many in one turn: one write.
        for i in range(200):
            ledger.submit(make(request_id=f"sc_b{i}"), None)
        await asyncio.sleep(0)
        assert seen.written == 203
        assert seen.by == [threading.get_ident()] * 4  # the loop's thread, four writes
        assert ledger.pending == 203  # written, not synced: that stays the worker's, per interval
        await ledger.aclose()
        assert ledger.pending == 0
        assert ids(path) == [f"sc_{i}" for i in range(1, 4)] + [f"sc_b{i}" for i in range(200)]


async def test_a_reader_that_stops_never_stalls_the_loop_and_loses_nothing(tmp_path: Path) -> None:
    """stdout in a pod is a pipe: a log collector that stops reading fills it. The loop then
    hands lines to the worker (which waits on the pipe instead) and keeps serving; when the reader
    resumes, every line arrives once, in order."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        seen = Threads()
        ledger = Ledger(UsageLog(path=str(fifo), fsync_interval=0.05), observer=seen)
        await ledger.start()
        pad = "p" * 200
        total = 600  # ~0.5 KB lines: several times what the pipe holds
        worst = 0.0
        for i in range(total):
            t = time.monotonic()
            assert ledger.submit(make(request_id=f"sc_{i:04d}", model=pad), None)
            await asyncio.sleep(0)
            worst = max(worst, time.monotonic() - t)
        # Nobody reads: the pipe is full, the rest waits in memory (the worker blocks on it).
        assert ledger.pending > 0
        assert worst < 1.0, worst  # a turn of the loop never waited for the reader
        loop_thread = threading.get_ident()
        assert loop_thread in seen.by  # the loop wrote while there was room
        got = b""

        async def drain() -> bool:
            nonlocal got
            try:
                while chunk := os.read(reader, 1 << 16):
                    got += chunk
            except BlockingIOError:
                pass
            return got.count(b"\n") >= total

        for _ in range(1000):
            if await drain():
                break
            await asyncio.sleep(0.01)
        await ledger.aclose()
        await drain()
        assert any(t != loop_thread for t in seen.by)  # and the worker wrote when there was not
        records = [decode_line(line + b"\n") for line in got.splitlines()]
        assert [r[0].request_id for r in records if r is not None] == \
            [f"sc_{i:04d}" for i in range(total)]
    finally:
        os.close(reader)


async def test_lines_keep_their_order_when_rotation_hands_them_to_the_worker(
        tmp_path: Path) -> None:
    with tmpfs(tmp_path / "vol", "4m") as vol:
        path = vol.path / "usage.jsonl"
        ledger = Ledger(UsageLog(path=str(path), fsync_interval=0.01, max_bytes=4096,
                                 backups=200, min_retention=0.0))
        await ledger.start()
        for i in range(400):
            ledger.submit(make(request_id=f"sc_{i:05d}"), None)
            if i % 3 == 0:
                await asyncio.sleep(0)
            if i % 50 == 0:
                await until(lambda: ledger.pending == 0, "synced")
        await ledger.aclose()
        assert ids(path, backups=200) == [f"sc_{i:05d}" for i in range(400)]


async def test_a_slow_write_hands_writing_to_the_worker_for_a_while(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Any write counts as slow here (threshold 0): the loop writes once, warns once, and the
    worker writes the rest, in order."""
    with tmpfs(tmp_path / "vol", "1m") as vol:
        path = vol.path / "usage.jsonl"
        seen = Threads()
        ledger = Ledger(UsageLog(path=str(path), fsync_interval=0.05), observer=seen,
                        slow_write=0.0)
        await ledger.start()
        for i in range(5):
            ledger.submit(make(request_id=f"sc_{i}"), None)
            await asyncio.sleep(0)
            await until(lambda i=i: seen.written == i + 1, "the line is written")  # type: ignore[misc]
        await ledger.aclose()
        loop_thread = threading.get_ident()
        assert seen.by[0] == loop_thread
        assert all(t != loop_thread for t in seen.by[1:])
        slow = [r for r in caplog.records if "the worker thread writes the lines" in r.getMessage()]
        assert len(slow) == 1
        assert ids(path) == [f"sc_{i}" for i in range(5)]

_CHILD = """
import asyncio, sys
from proxy.config import UsageLog
from proxy.usagelog import Ledger
from tests.records import make

async def main():
    ledger = Ledger(UsageLog(path="-", fsync_interval=0.05))
    await ledger.start()
    print("loop_safe", ledger._file.loop_safe, file=sys.stderr, flush=True)
    for i in range(3):
        ledger.submit(make(request_id=f"sc_{i}"), None)
        await asyncio.sleep(0.01)
    await ledger.aclose()

asyncio.run(main())
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to run a child as another user (setpriv)")
def test_stdout_a_pipe_of_another_user_is_written_by_the_worker(tmp_path: Path) -> None:
    """In a pod the runtime owns the stdout pipe and the sidecar runs as another user: the pipe
    cannot be reopened non-blocking, so the worker writes it, as before, and nothing is lost."""
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
    if subprocess.run([*as_nobody, "-c", "import proxy"], capture_output=True, timeout=60,
                      cwd=Path(__file__).resolve().parents[1], check=False).returncode != 0:
        pytest.skip("this Python or checkout is not readable by another user")
    child = subprocess.run(
        [*as_nobody, "-c", _CHILD],
        capture_output=True, cwd=Path(__file__).resolve().parents[1], timeout=60, check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert child.returncode == 0, child.stderr.decode()[-2000:]
    assert b"loop_safe False" in child.stderr
    got = [decode_line(line + b"\n") for line in child.stdout.splitlines()]
    assert [r[0].request_id for r in got if r is not None] == ["sc_0", "sc_1", "sc_2"]


async def test_the_worker_gathers_only_when_lines_follow_each_other(tmp_path: Path) -> None:
    """On the worker's path (a device here; stdout as another user's pipe in a pod) an isolated
    line is written at once, not after the gathering time; lines that keep coming are gathered
    into few writes. (A gathering time of 0.5 s makes either visible.)"""
    path = tmp_path / "usage.jsonl"
    path.symlink_to(os.devnull)
    seen = Threads()
    ledger = Ledger(UsageLog(path=str(path), fsync_interval=3600.0), observer=seen, gather=0.5)
    await ledger.start()
    assert not ledger._file.loop_safe  # the path under test is the worker's
    began = time.monotonic()
    ledger.submit(make(request_id="sc_alone"), None)
    await until(lambda: seen.written == 1, "the isolated line is written")
    assert time.monotonic() - began < 0.4  # not held for the 0.5 s gathering
    for i in range(10):  # 10 ms apart: each comes within the gathering time of the one before
        ledger.submit(make(request_id=f"sc_{i}"), None)
        await asyncio.sleep(0.01)
    await until(lambda: seen.written == 11, "the run is written")
    assert seen.writes_after(1) <= 3
    await ledger.aclose()
