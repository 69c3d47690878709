"""The usage log read back for an audit: every rotation (``PATH.N``, ``PATH.N.gz``), gzip told by
its bytes, lines bounded, and every failure a sentence naming the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from proxy.reconcile import Window
from proxy.reconcile.sources import ReconcileFailed, log_paths, read_log
from proxy.usagelog import encode_line, file_lines, rotated_files
from proxy.usagelog.history import MAX_LINE

from ..records import make


def line(n: int, **kw: object) -> bytes:
    return encode_line(make(request_id=f"sc_{n}", lava_request_id=f"req_{n}",
                            started_at=1_780_000_000.0 + n, **kw), None)


def test_rotations_are_found_oldest_first_with_gaps_and_gzip(tmp_path: Path) -> None:
    base = tmp_path / "usage.jsonl"
    for name in ("usage.jsonl", "usage.jsonl.1", "usage.jsonl.2.gz", "usage.jsonl.10.gz",
                 "usage.jsonl.old", "usage.jsonl.x.gz", "other.jsonl.1"):
        (tmp_path / name).write_bytes(b"")
    assert [Path(n).name for n in rotated_files(str(base))] == [
        "usage.jsonl.10.gz", "usage.jsonl.2.gz", "usage.jsonl.1", "usage.jsonl"]
    # The live file may be gone (rotated away) while its rotations remain.
    base.unlink()
    assert [Path(n).name for n in rotated_files(str(base))][-1] == "usage.jsonl.1"


def test_gzip_is_read_by_its_bytes_and_lines_are_bounded(tmp_path: Path) -> None:
    packed = tmp_path / "usage.jsonl.1"  # compressed but not named .gz: still read
    packed.write_bytes(gzip.compress(line(1) + line(2)))
    assert list(file_lines(str(packed))) == [line(1), line(2)]
    huge = tmp_path / "huge"
    huge.write_bytes(line(1) + b"x" * (MAX_LINE * 3) + b"\n" + line(2) + b"torn")
    assert list(file_lines(str(huge))) == [line(1), line(2), b"torn"]
    broken = tmp_path / "usage.jsonl.2.gz"
    broken.write_bytes(gzip.compress(line(1) * 50)[:40])
    with pytest.raises(OSError, match=r"usage\.jsonl\.2\.gz"):
        list(file_lines(str(broken)))


def test_read_log_joins_every_file_once_and_counts_unreadable_lines(tmp_path: Path) -> None:
    base = tmp_path / "usage.jsonl"
    (tmp_path / "usage.jsonl.2.gz").write_bytes(gzip.compress(line(1) + b"{not json\n"))
    (tmp_path / "usage.jsonl.1").write_bytes(line(2))
    base.write_bytes(line(3, customer_id="cus_b") + b'{"torn":')
    # The base path and one of its rotations named twice: each file is read once.
    read = read_log([str(base), str(tmp_path / "usage.jsonl.1")], Window())
    assert [s.lava_request_id for s in read.served] == ["req_1", "req_2", "req_3"]
    assert (read.lines, read.unreadable, len(read.files)) == (5, 2, 3)
    only_b = read_log([str(base)], Window(), customer="cus_b")
    assert [s.customer for s in only_b.served] == ["cus_b"]


def test_a_missing_or_damaged_log_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ReconcileFailed, match=r"usage log .*nope.jsonl: no such file"):
        log_paths([str(tmp_path / "nope.jsonl")])
    with pytest.raises(ReconcileFailed, match="No such file"):
        log_paths([str(tmp_path / "missing-dir" / "usage.jsonl")])
    (tmp_path / "usage.jsonl").write_bytes(line(1))
    (tmp_path / "usage.jsonl.1.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 30)
    with pytest.raises(ReconcileFailed, match=r"cannot read the usage log .*usage.jsonl.1.gz"):
        read_log([str(tmp_path / "usage.jsonl")], Window())
