"""The usage log's history: the retained, rotated files read back (oldest first) for replay at start,
and for tools that audit it (``rotated_files``/``file_lines`` also read what logrotate left behind:
any ``PATH.N`` and gzip-compressed ``PATH.N.gz``)."""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from collections.abc import Iterator
from typing import BinaryIO, Final

from ..record import RequestRecord
from .line import decode_line

log = logging.getLogger("lava_sidecar.usage_log")

#: Longest line ``file_lines`` returns whole; a longer one is not ours and is skipped in pieces.
MAX_LINE: Final = 256 * 1024
_GZIP_MAGIC: Final = b"\x1f\x8b"


def log_files(path: str, backups: int) -> list[str]:
    """The rotated set, oldest first, that exist now (for replay)."""
    names = [f"{path}.{i}" for i in range(backups, 0, -1)] + [path]
    return [n for n in names if os.path.isfile(n)]


def read_lines(path: str, backups: int) -> Iterator[bytes]:
    """Every line of the rotated set, oldest first; torn or unreadable parts are the caller's to skip."""
    for name in log_files(path, backups):
        try:
            with open(name, "rb") as f:
                yield from f
        except OSError as exc:
            log.warning("usage log replay: cannot read %s: %s", name, exc.strerror)


class HistorySnapshot:
    """The retained log files as they are *now*: opened and sized at once, oldest first.

    Open handles follow their files through rotation (a rename keeps the inode), and reading
    stops at the size taken here, so lines appended afterwards are never read back.
    """

    __slots__ = ("_files", "_reader")

    def __init__(self, files: list[tuple[BinaryIO, int]]) -> None:
        self._files = files
        self._reader = self._lines()

    @classmethod
    def take(cls, path: str, backups: int) -> HistorySnapshot:
        files: list[tuple[BinaryIO, int]] = []
        for name in log_files(path, backups):
            try:
                f = open(name, "rb")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                log.warning("usage log replay: cannot read %s: %s", name, exc.strerror)
                continue
            files.append((f, os.fstat(f.fileno()).st_size))
        return cls(files)

    def _lines(self) -> Iterator[bytes]:
        for f, size in self._files:
            left = size
            for line in f:
                if len(line) > left:
                    break  # written after the snapshot (or torn): not history
                left -= len(line)
                yield line

    def decode_next(self, n: int) -> list[RequestRecord]:
        """Up to ``n`` decoded records (fewer only at the end); unreadable lines are skipped."""
        out: list[RequestRecord] = []
        for line in self._reader:
            decoded = decode_line(line)
            if decoded is not None:
                out.append(decoded[0])
                if len(out) >= n:
                    break
        return out

    def close(self) -> None:
        for f, _ in self._files:
            f.close()


def rotated_files(path: str) -> list[str]:
    """``path`` and every rotation of it that exists (``path.N``, ``path.N.gz``), oldest first.

    Raises ``OSError`` when the directory cannot be listed. Numbers need not be contiguous
    (logrotate's ``maxage`` leaves gaps); a higher number is older, the bare path is newest.
    """
    folder, base = os.path.split(path)
    rotations: list[tuple[int, int, str]] = []
    for name in os.listdir(folder or "."):
        if not name.startswith(base + "."):
            continue
        rest = name[len(base) + 1:]
        number = rest.removesuffix(".gz")
        if number.isdigit():
            # path.1 and path.1.gz both present (mid-compression): the plain one is read first.
            rotations.append((int(number), rest.endswith(".gz"), os.path.join(folder, name)))
    rotations.sort(key=lambda r: (-r[0], r[1]))
    names = [name for _, _, name in rotations]
    if os.path.isfile(path):
        names.append(path)
    return names


def file_lines(name: str) -> Iterator[bytes]:
    """Every line of one log file, plain or gzip (told by its first bytes, not its name).

    Lines longer than ``MAX_LINE`` are skipped (they are not ours), so memory stays bounded
    whatever the file holds. A damaged gzip stream raises ``OSError`` naming the file.
    """
    with open(name, "rb") as raw:
        packed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not packed:
            yield from _bounded_lines(raw)
            return
        try:
            with gzip.GzipFile(fileobj=raw) as unpacked:
                yield from _bounded_lines(unpacked)
        except (EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError already
            raise OSError(f"{name}: damaged gzip data ({exc})") from exc


def _bounded_lines(f: BinaryIO | gzip.GzipFile) -> Iterator[bytes]:
    skipping = False
    while True:
        line = f.readline(MAX_LINE)
        if not line:
            return
        whole = line.endswith(b"\n")
        if not skipping and (whole or len(line) < MAX_LINE):
            yield line
        skipping = not whole
