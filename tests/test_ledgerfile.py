"""The usage log file: whole lines only, size rotation by renames, crash and disk-full safety."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.usagelog.file import LogFile
from proxy.usagelog.history import log_files, read_lines
from tests.tmpfs import tmpfs


def lines_of(sizes: list[int], start: int = 0) -> list[bytes]:
    """Numbered lines of exact byte sizes (each ≥ 8, ``\\n`` included)."""
    out = []
    for i, size in enumerate(sizes, start):
        head = f"{i:07d}".encode()
        out.append(head + b"x" * (size - len(head) - 1) + b"\n")
    return out


def all_lines(path: Path, backups: int) -> list[bytes]:
    return list(read_lines(str(path), backups))


def test_appends_whole_lines_and_reopens_for_append(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    f = LogFile(str(path), max_bytes=1 << 20, backups=2)
    assert f.append(lines_of([20, 30])) == (2, None)
    f.sync()
    f.close()
    g = LogFile(str(path), max_bytes=1 << 20, backups=2)
    assert g.append(lines_of([40], start=2)) == (1, None)
    g.close()
    assert path.read_bytes() == b"".join(lines_of([20, 30, 40]))


def test_rotates_by_renaming_and_keeps_the_newest_backups(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    f = LogFile(str(path), max_bytes=100, backups=2)
    written = lines_of([40] * 10)  # 2 lines fit a 100-byte file
    for line in written:
        assert f.append([line]) == (1, None)
    f.close()
    assert log_files(str(path), 2) == [f"{path}.2", f"{path}.1", str(path)]
    assert not (tmp_path / "usage.jsonl.3").exists()
    assert all_lines(path, 2) == written[-6:]  # three files of two lines; the oldest two dropped


def test_zero_backups_keeps_only_the_live_file(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    f = LogFile(str(path), max_bytes=100, backups=0)
    assert f.append(lines_of([60] * 3)) == (3, None)
    f.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.jsonl"]
    assert path.read_bytes() == lines_of([60] * 3)[-1]


def test_a_line_longer_than_max_bytes_gets_a_file_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    f = LogFile(str(path), max_bytes=50, backups=5)
    written = lines_of([20, 120, 20])
    assert f.append(written) == (3, None)
    f.close()
    assert [Path(p).read_bytes() for p in log_files(str(path), 5)] == [
        written[0], written[1], written[2]]


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(8, 90), min_size=1, max_size=60),
       batch=st.integers(1, 7), max_bytes=st.integers(60, 400))
def test_no_line_is_ever_split_across_files(tmp_path_factory: pytest.TempPathFactory,
                                            sizes: list[int], batch: int, max_bytes: int) -> None:
    path = tmp_path_factory.mktemp("rot") / "usage.jsonl"
    backups = 1000  # keep everything: the concatenation must be the input exactly
    f = LogFile(str(path), max_bytes=max_bytes, backups=backups)
    written = lines_of(sizes)
    for i in range(0, len(written), batch):
        assert f.append(written[i:i + batch]) == (len(written[i:i + batch]), None)
    f.close()
    files = log_files(str(path), backups)
    for name in files:
        data = Path(name).read_bytes()
        assert data.endswith(b"\n")
        # Over the limit only when one line alone is.
        assert len(data) <= max_bytes or data.count(b"\n") == 1
    assert b"".join(Path(n).read_bytes() for n in files) == b"".join(written)


def test_a_torn_tail_from_a_crash_is_closed_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    path.write_bytes(b'{"whole":1}\n{"torn":')
    f = LogFile(str(path), max_bytes=1 << 20, backups=1)
    assert f.append([b'{"next":2}\n']) == (1, None)
    f.close()
    assert path.read_bytes().split(b"\n") == [b'{"whole":1}', b'{"torn":', b'{"next":2}', b""]


def test_disk_full_reports_the_error_and_never_touches_the_device(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    path.symlink_to("/dev/full")
    f = LogFile(str(path), max_bytes=10, backups=3)  # would rotate at once if it were a file
    done, err = f.append(lines_of([40, 40]))
    assert done == 0
    assert isinstance(err, OSError)
    assert err.errno == errno.ENOSPC
    f.sync()  # a device: nothing to fsync, and no error
    assert path.is_symlink()
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert not list(tmp_path.glob("usage.jsonl.*"))
    # The disk "is freed": the next append reopens the path and works.
    path.unlink()
    assert f.append(lines_of([40, 40])) == (2, None)
    f.close()
    assert all_lines(path, 3) == lines_of([40, 40])  # a regular file now: rotated at 10 bytes


def test_an_unwritable_directory_is_an_error_not_an_exception(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    f = LogFile(str(blocker / "usage.jsonl"), max_bytes=100, backups=1)
    done, err = f.append(lines_of([20]))
    assert done == 0
    assert isinstance(err, OSError)
    assert err.errno == errno.ENOTDIR


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_directory_is_an_error(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    done, err = LogFile(str(ro / "u.jsonl"), max_bytes=100, backups=1).append(lines_of([20]))
    assert done == 0
    assert isinstance(err, PermissionError)


_FSIZE_CHILD = textwrap.dedent("""
    import resource, signal, sys
    from proxy.usagelog import LogFile
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # get EFBIG instead of being killed
    path, limit = sys.argv[1], int(sys.argv[2])
    line = lambda i: (b"%07d" % i) + b"x" * 92 + b"\\n"   # 100 bytes
    f = LogFile(path, max_bytes=1 << 20, backups=1)
    assert f.append([line(i) for i in range(3)]) == (3, None)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    done, err = f.append([line(i) for i in range(3, 6)])   # crosses the limit mid-line
    print(done, err.errno if err else None, flush=True)
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    print(*f.append([line(i) for i in range(3 + done, 6)]), flush=True)   # the rest, as the ledger does
""")


def test_a_write_that_fails_midway_leaves_only_whole_lines(tmp_path: Path) -> None:
    # RLIMIT_FSIZE makes the kernel stop a write part way, as a full disk does.
    path = tmp_path / "usage.jsonl"
    out = subprocess.run([sys.executable, "-c", _FSIZE_CHILD, str(path), "450"],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    first, second = out.stdout.splitlines()
    # Line 3 fitted whole and stays (partial progress); the torn half of line 4 was truncated away.
    assert first == f"1 {errno.EFBIG}"
    assert second == "2 None"
    data = path.read_bytes()
    assert [int(line[:7]) for line in data.splitlines()] == [0, 1, 2, 3, 4, 5]
    assert all(len(line) == 99 for line in data.splitlines())


_WRITER_CHILD = textwrap.dedent("""
    import sys
    from proxy.usagelog import LogFile
    f = LogFile(sys.argv[1], max_bytes=2000, backups=1000)
    i = 0
    while True:
        batch = [b'{"n":%d,"pad":"%s"}\\n' % (j, b"p" * (j % 50)) for j in range(i, i + 7)]
        f.append(batch)
        i += 7
        if i % 700 == 0:
            f.sync()
""")


def test_killed_mid_write_every_file_holds_whole_lines_in_order(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    child = subprocess.Popen([sys.executable, "-c", _WRITER_CHILD, str(path)],
                             cwd=Path(__file__).parent.parent)
    try:
        for _ in range(2000):  # wait (bounded) until it has rotated a few times
            if len(list(tmp_path.glob("usage.jsonl.*"))) >= 5:
                break
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    files = log_files(str(path), 1000)
    # Five rotated files, plus the live one unless the kill landed between rename and create.
    assert len(files) >= 5
    numbers = []
    for name in files:
        data = Path(name).read_bytes()
        complete, _, tail = data.rpartition(b"\n")
        if name != str(path):
            assert tail == b""  # a rotated file always ends on a line boundary
        numbers += [int(line.split(b",")[0][5:]) for line in complete.split(b"\n") if line]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    # Reopening after the crash: the next line is whole whatever the tail looked like.
    f = LogFile(str(path), max_bytes=1 << 30, backups=1000)
    assert f.append([b'{"n":-1}\n']) == (1, None)
    f.close()
    assert path.read_bytes().split(b"\n")[-2] == b'{"n":-1}'


def test_a_nearly_full_disk_takes_the_whole_lines_that_fit(tmp_path: Path) -> None:
    """A real filesystem (a 200 KiB tmpfs) asked for 400 KB at once: the lines that fit are written,
    whole; the rest are reported unwritten; when the disk grows they follow, each exactly once."""
    with tmpfs(tmp_path / "vol", "200k") as vol:
        path = vol.path / "usage.jsonl"
        f = LogFile(str(path), max_bytes=1 << 30, backups=1)
        written = lines_of([401] * 1000)
        done, err = f.append(written)
        assert isinstance(err, OSError)
        assert err.errno == errno.ENOSPC
        assert 0 < done < len(written)  # progress, not all-or-nothing
        assert path.read_bytes() == b"".join(written[:done])  # nothing torn after the last line
        again, err = f.append(written[done:])  # still full: nothing more, nothing torn
        assert (again, getattr(err, "errno", None)) == (0, errno.ENOSPC)
        assert path.read_bytes() == b"".join(written[:done])
        vol.resize("1m")
        assert f.append(written[done:]) == (len(written) - done, None)
        f.close()
        assert path.read_bytes() == b"".join(written)
