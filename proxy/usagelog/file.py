"""The usage log's file: append whole lines, fsync on demand, rotate by size with renames.

Blocking I/O by design: the ledger's worker thread calls it, and the event loop only through
``write_now``, an append that cannot wait (``loop_safe``). Crash safety rests on three
rules: a line is written whole into one file (rotation happens only between lines), the torn end
of a failed write is truncated back to its last whole line (the whole lines before it stay: a
nearly full disk takes what fits), and a torn tail left by a crash is closed with a newline before
anything else is appended, so every complete line stays a line of its own.

Rotation never deletes young lines: a rotation that would drop a file (the oldest backup, or with
``backups: 0`` the file itself) whose last write is younger than ``min_retention`` seconds does
not happen; lines go on into the current file past ``max_bytes`` until that file is old enough
(``held``; each such stretch counted in ``holds`` and logged once, when it starts and ends). A
file's last write is its modification time: renames keep it, and no line is written to a backup.
"""

from __future__ import annotations

import logging
import os
import select
import stat
import time
from collections.abc import Callable, Sequence
from typing import Final

log = logging.getLogger("lava_sidecar.usage_log")

STDOUT: Final = "-"
_FLAGS: Final = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
#: Bytes handed to one ``write``: a backlog held through a full disk is retried without joining
#: all of it into one buffer every interval.
MAX_WRITE: Final = 1 << 20
#: While rotation is held, the file it would drop is looked at again at least this often.
RECHECK_SECONDS: Final = 60.0
#: Filesystems whose appends land in the local page cache: an append there is a copy into memory,
#: so the event loop may make it. Anything else (NFS, CIFS, FUSE, Ceph, an unknown type) can hold
#: a ``write`` for as long as a server takes to answer, and is written by the worker only.
LOCAL_FILESYSTEMS: Final = frozenset({
    "ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "f2fs", "ramfs", "jfs",
    "reiserfs", "bcachefs"})


class LogFile:
    """A size-rotated JSON-lines file, or standard output for ``-`` (never rotated or fsynced)."""

    __slots__ = ("_backups", "_clock", "_fd", "_hold_until", "_max_bytes", "_nonblocking", "_path",
                 "_regular", "_retention", "_size", "held", "holds", "loop_safe")

    def __init__(self, path: str, *, max_bytes: int, backups: int, min_retention: float = 0.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._max_bytes = max_bytes
        self._backups = backups
        self._retention = min_retention
        self._clock = clock
        self._fd: int | None = None
        self._regular = False
        self._size = 0
        #: A rotation is withheld (it would delete lines younger than ``min_retention``).
        self.held = False
        #: Stretches of withheld rotation so far.
        self.holds = 0
        self._hold_until = 0.0
        #: What is open cannot make an append wait on anything but memory: a regular file on a
        #: local filesystem, or a pipe (written through a non-blocking descriptor of its own).
        #: Set by ``open``.
        self.loop_safe = False
        self._nonblocking: int | None = None

    @property
    def path(self) -> str:
        return self._path

    def open(self) -> None:
        """Open (creating) the file if it is not open; raises ``OSError`` when it cannot be."""
        if self._fd is not None:
            return
        if self._path == STDOUT:
            self._fd, self._regular, self._size = 1, False, 0
            self._classify(1, None)
            return
        existed = os.path.exists(self._path)
        fd = os.open(self._path, _FLAGS, 0o640)
        try:
            st = os.fstat(fd)
            # Only a regular file is rotated or fsynced: /dev/full or a FIFO must never be renamed.
            self._regular = stat.S_ISREG(st.st_mode)
            self._size = st.st_size if self._regular else 0
            self._classify(fd, st)
            if self._regular and self._size and os.pread(fd, 1, self._size - 1) != b"\n":
                # A crash tore the last line: end it so the next line starts clean.
                os.write(fd, b"\n")
                self._size += 1
            if not existed:
                _fsync_dir(self._path)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd

    def _classify(self, fd: int, st: os.stat_result | None) -> None:
        """Set ``loop_safe`` for what ``fd`` is (a terminal, a socket or a device never is)."""
        self._close_nonblocking()
        self.loop_safe = False
        try:
            st = st or os.fstat(fd)
            if stat.S_ISFIFO(st.st_mode):
                # A description of our own: O_NONBLOCK on the shared one (stdout may be stderr's
                # too) would turn every other writer's full pipe into an error.
                self._nonblocking = os.open(f"/proc/self/fd/{fd}",
                                            os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                self.loop_safe = True
            elif stat.S_ISREG(st.st_mode) and self._path != STDOUT:
                # (stdout redirected to a file is not rotated, so its size is not tracked: the
                # worker writes it, as before.)
                self.loop_safe = filesystem_of(self._path, _mountinfo()) in LOCAL_FILESYSTEMS
        except OSError:
            self._close_nonblocking()
            self.loop_safe = False

    def write_now(self, lines: Sequence[bytes]) -> tuple[int, OSError | None] | None:
        """``append``, as far as it cannot wait: None when nothing could be written that way
        (the worker's ``append`` must), else how many lines went in and the error, if any.

        A regular file (``loop_safe``: on a local filesystem) takes the lines if they need no
        rotation (a rotation fsyncs and renames). A pipe takes them in writes of at most
        ``PIPE_BUF`` bytes on its non-blocking descriptor: each such write is whole or refused
        (POSIX), so a reader that stopped reading costs a refusal, never a wait or a torn line."""
        fd = self._fd
        if fd is None or not self.loop_safe:
            return None
        nonblocking = self._nonblocking
        if nonblocking is not None:
            return self._write_pipe(nonblocking, lines)
        size = 0
        for line in lines:
            size += len(line)
        if size > MAX_WRITE or self._size + size > self._max_bytes:
            return None  # a big backlog, or rotation's turn (or its hold's): the worker's
        n, err = self._write(lines)
        if err is not None:
            self.close()
        return n, err

    def _write_pipe(self, fd: int, lines: Sequence[bytes]) -> tuple[int, OSError | None] | None:
        done = 0
        while done < len(lines):
            end, size = done, 0
            while end < len(lines) and size + len(lines[end]) <= select.PIPE_BUF:
                size += len(lines[end])
                end += 1
            if end == done:  # a line longer than PIPE_BUF could go in pieces: the worker's
                break
            try:
                os.write(fd, b"".join(lines[done:end]))
            except BlockingIOError:
                break  # full: what is left waits for the worker, in order
            except OSError as exc:
                self.close()
                return done, exc
            done = end
        return (done, None) if done else None

    def append(self, lines: Sequence[bytes]) -> tuple[int, OSError | None]:
        """Write ``lines`` (each ending in ``\\n``) in order; returns how many are in the file.

        On failure, returns the count written before it and the error; the file is closed so the
        next call reopens the path (a replaced volume, a freed disk, a fixed permission).
        """
        done = 0
        try:
            self.open()
            while done < len(lines):
                if self._should_rotate(len(lines[done])) and self._may_rotate():
                    self._rotate()
                end = self._fit(lines, done)
                n, err = self._write(lines[done:end])
                done += n
                if err is not None:
                    raise err
        except OSError as exc:
            self.close()
            return done, exc
        return done, None

    def sync(self) -> None:
        """Make appended lines durable (``fdatasync``); a no-op for stdout and devices."""
        if self._fd is not None and self._regular:
            os.fdatasync(self._fd)

    def close(self) -> None:
        self._close_nonblocking()
        fd, self._fd = self._fd, None
        if fd is not None and fd != 1:
            try:
                os.close(fd)
            except OSError:
                log.debug("closing the usage log failed", exc_info=True)

    def _close_nonblocking(self) -> None:
        fd, self._nonblocking = self._nonblocking, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                log.debug("closing the usage log's pipe failed", exc_info=True)

    def _should_rotate(self, next_len: int) -> bool:
        return self._regular and self._size > 0 and self._size + next_len > self._max_bytes

    def _may_rotate(self) -> bool:
        """Whether the rotation due now may drop the file it would drop (see the module's
        docstring); starts or ends a hold. While held, stats that file at most once a minute."""
        if self._retention <= 0:
            return True
        now = self._clock()
        if self.held and now < self._hold_until:
            return False
        victim = self._path if self._backups == 0 else f"{self._path}.{self._backups}"
        try:
            written = os.stat(victim).st_mtime
        except FileNotFoundError:
            written = None  # nothing to drop yet
        except OSError:
            written = now  # cannot tell its age: keep it, look again later
        if written is None or now - written >= self._retention:
            if self.held:
                self.held = False
                log.warning("usage log %s: rotating again (the oldest retained lines are now "
                            "older than usage_log.min_retention_seconds)", self._path)
            return True
        # Look again when that file turns old enough, or sooner: an operator may move it away.
        self._hold_until = min(written + self._retention, now + RECHECK_SECONDS)
        if not self.held:
            self.held = True
            self.holds += 1
            log.warning("usage log %s: rotating would delete %s, which holds lines written less "
                        "than usage_log.min_retention_seconds (%gs) ago; not rotating: %s grows "
                        "past usage_log.max_bytes (%d) until it may (raise backups or max_bytes, "
                        "or lower the retention)", self._path, victim, self._retention,
                        self._path, self._max_bytes)
        return False

    def _fit(self, lines: Sequence[bytes], start: int) -> int:
        """End index of the longest run from ``start`` that fits the current file and one write
        (at least one line); while rotation is held the file has no size limit."""
        room = self._max_bytes - self._size if self._regular and not self.held else MAX_WRITE
        room = min(room, MAX_WRITE)
        size, end = len(lines[start]), start + 1
        while end < len(lines) and size + len(lines[end]) <= room:
            size += len(lines[end])
            end += 1
        return end

    def _write(self, lines: Sequence[bytes]) -> tuple[int, OSError | None]:
        """Write a run of lines: how many made it whole, and the error if not all did.

        The whole lines of a partial write stay and count as written (no duplicates on retry); the
        torn part after them is truncated away, or, when even that fails, ended with a newline by
        ``open()`` before the next line.
        """
        fd = self._fd
        if fd is None:  # pragma: no cover - open() ran just before
            return 0, OSError("usage log is not open")
        data = b"".join(lines)
        start, written = self._size, 0
        try:
            while written < len(data):
                written += os.write(fd, data[written:])
        except OSError as exc:
            whole, keep = _whole_lines(lines, written)
            if written > keep and self._regular:
                try:
                    os.ftruncate(fd, start + keep)
                    written = keep
                except OSError:
                    pass
            self._size = start + written
            return whole, exc
        self._size += written
        return len(lines), None

    def _rotate(self) -> None:
        # Durable before it is renamed away; renames run oldest first so that at every instant each
        # line is in exactly one file (only the oldest backup is dropped).
        self.sync()
        self.close()
        base = self._path
        if self._backups == 0:
            os.unlink(base)
        else:
            for i in range(self._backups - 1, 0, -1):
                src = f"{base}.{i}"
                if os.path.exists(src):
                    os.replace(src, f"{base}.{i + 1}")
            os.replace(base, f"{base}.1")
        _fsync_dir(base)
        self.open()


def _mountinfo() -> str:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            return f.read(1 << 20)
    except OSError:
        return ""


def filesystem_of(path: str, mountinfo: str) -> str | None:
    """The type of the filesystem ``path`` is on, from ``/proc/self/mountinfo``'s text: the
    mount whose point is the longest prefix of the path's real location (None if unknown)."""
    where = os.path.realpath(path)
    best, kind = -1, None
    for row in mountinfo.splitlines():
        left, sep, right = row.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right:
            continue
        point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best:  # a later mount over the same point hides the earlier
            best, kind = len(point), right.split()[0]
    return kind


def _whole_lines(lines: Sequence[bytes], written: int) -> tuple[int, int]:
    """How many of ``lines`` the first ``written`` bytes hold whole, and their length in bytes."""
    n = size = 0
    for line in lines:
        if written - size < len(line):
            break
        size += len(line)
        n += 1
    return n, size


def _fsync_dir(path: str) -> None:
    """Make a create or rename durable; best effort (some filesystems refuse directory fsync)."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
