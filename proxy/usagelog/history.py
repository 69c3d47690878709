"""The usage log's history: the retained, rotated files read back (oldest first) for replay at start."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import BinaryIO

from ..record import RequestRecord
from .line import decode_line

log = logging.getLogger("lava_sidecar.usage_log")


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
