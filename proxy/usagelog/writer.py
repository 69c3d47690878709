"""The durable usage log: one JSON line per finished request, written at once and fsynced off the loop.

``submit`` (event loop, never blocks) encodes the line. Where an append cannot wait (a regular file
on a local filesystem, or a pipe with room: ``LogFile.write_now``), the loop writes that turn's
lines itself, once per turn of the loop: a line is in the kernel's hands before the next request
starts, and a worker thread is woken for nothing. At a pod's usual rates that wake was the line's
whole cost: ~140 us of CPU a request at 100 requests a second, the largest single piece of a
request's CPU at that rate (``python -m bench.lowrate``). Everything that can wait stays on the
worker thread: ``fdatasync`` every ``fsync_interval`` seconds (so only a machine crash can lose the
last interval), rotation, a file on a network filesystem, a terminal, a full pipe, retries.

When the loop may not write, lines go to a bounded queue and the worker writes them within
``GATHER`` (``write``: in the kernel's hands, so the death of the process loses nothing). The
worker is woken only when it is idle: a burst costs one wake, not one per line; and while lines
keep coming it lets them gather for ``GATHER`` before each write, so under steady traffic nobody
wakes it (an isolated line is written at once). While
the worker holds lines (a backlog, a failure, a rotation), the loop writes none, so lines stay in
order. A loop write that takes over ``SLOW_WRITE`` hands writing to the worker for ``SLOW_PAUSE``.
Encoding stays on the loop on purpose: done in the thread, it held the GIL against the loop, and
the handoffs cost more CPU than the encoding itself. Lines that cannot be written stay in memory
(up to the bound) and are retried once per interval, writing as many whole lines as fit;
``healthy`` turns false meanwhile so the handler can apply ``usage_log.on_error``. A clean
``aclose`` writes and syncs everything that was accepted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Final, Protocol

from ..config import UsageLog
from ..record import RequestRecord
from .file import STDOUT, LogFile
from .line import Cuts, encode_line

log = logging.getLogger("lava_sidecar.usage_log")

#: Lines held in memory (queued or awaiting a retry) before new ones are dropped and counted.
MAX_PENDING: Final = 100_000
#: How long the woken worker lets lines gather before it writes them: under steady traffic one
#: write per interval and no wake-ups. A tenth of the 50 ms within which an answered request's
#: line is promised to be in the kernel (docs/failure-behaviour.md, tests/faults/test_kill9.py).
GATHER: Final = 0.005
#: A write made by the event loop that takes longer than this (a disk the kernel throttles)
#: hands writing to the worker thread for ``SLOW_PAUSE`` seconds: it can cost the loop this once
#: a pause, not once a request.
SLOW_WRITE: Final = 0.010
SLOW_PAUSE: Final = 60.0
#: A clean stop retries a failing disk this often before giving the lines to stderr.
_CLOSE_ATTEMPTS: Final = 3
_CLOSE_RETRY_DELAY: Final = 0.2


class LedgerObserver(Protocol):
    """Where the ledger reports what happened (``Metrics`` implements it). Called from its thread."""

    def lines_written(self, n: int) -> None: ...

    def write_failed(self) -> None: ...


class _Quiet:
    def lines_written(self, n: int) -> None:
        return None

    def write_failed(self) -> None:
        return None


class Ledger:
    """Append-only usage log with batched fsync, size rotation and a bounded retry buffer."""

    def __init__(self, cfg: UsageLog, *, observer: LedgerObserver | None = None,
                 max_pending: int = MAX_PENDING, gather: float = GATHER,
                 slow_write: float = SLOW_WRITE) -> None:
        if cfg.path is None:
            raise ValueError("usage_log.path is None: no ledger to open")
        self._file = LogFile(cfg.path, max_bytes=cfg.max_bytes, backups=cfg.backups,
                             min_retention=cfg.min_retention)
        #: Fields cut (or dropped) to keep each line within ``line.MAX_LINE_BYTES``.
        self.cuts = Cuts()
        self._interval = cfg.fsync_interval
        self._observer: LedgerObserver = observer or _Quiet()
        self._max_pending = max_pending
        self._gather = gather
        self._q: deque[bytes] = deque()    # encoded lines, appended on the loop
        self._held: list[bytes] = []       # taken by the worker, not yet in the file
        self._unsynced = 0                 # in the file, not yet fsynced
        self._wake = threading.Event()
        self._idle = False                 # the worker waits: the next submit must wake it
        self._stopping = False
        self._failing = False              # set and cleared by the worker
        self._dropping = False
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Held by whoever touches the file or the lines between queue and file (the worker, or
        #: the loop for a write that cannot wait); the loop never waits for it.
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._turn: list[bytes] = []       # this turn of the loop's lines, for the loop to write
        self._loop_writes_after = 0.0      # monotonic time before which the loop writes none
        self._slow_write = slow_write

    @property
    def path(self) -> str:
        return self._file.path

    @property
    def rotation_held(self) -> bool:
        """Rotation is withheld: it would delete lines younger than the retention."""
        return self._file.held

    @property
    def rotation_holds(self) -> int:
        return self._file.holds

    @property
    def healthy(self) -> bool:
        """False while writes fail or the buffer is full: what ``usage_log.on_error`` acts on."""
        return not self._failing and not self._full()

    @property
    def pending(self) -> int:
        """Lines accepted but not yet durable (queued, awaiting retry, or written but not synced)."""
        return len(self._turn) + len(self._q) + len(self._held) + self._unsynced

    def _full(self) -> bool:
        return len(self._turn) + len(self._q) + len(self._held) >= self._max_pending

    async def start(self) -> None:
        """Open the file (reporting a failure at once, not at the first line) and start the worker."""
        if self._thread is not None:
            return
        try:
            await asyncio.to_thread(self._file.open)
        except OSError as exc:
            self._failed(exc)
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="usage-log", daemon=True)
        self._thread.start()

    def submit(self, rec: RequestRecord, charge: Decimal | None) -> bool:
        """Queue one line (event loop; O(1), never blocks). False when the buffer is full."""
        if self._full() or self._closed:
            self._drop()
            return False
        try:
            line = encode_line(rec, charge, self.cuts)
        except Exception:  # a bug must cost one line, never the request
            log.exception("usage log: cannot encode request %s; line skipped", rec.request_id)
            self._observer.write_failed()
            return False
        turn = self._turn
        if turn:  # this turn's write is already due: the line joins it
            turn.append(line)
            return True
        loop = self._loop
        if loop is not None and self._file.loop_safe and not self._failing:
            try:
                loop.call_soon(self._write_turn)
            except RuntimeError:  # that loop is closed (a ledger outliving it): the worker's
                pass
            else:
                turn.append(line)
                return True
        self._to_worker(line)
        return True

    def _to_worker(self, line: bytes) -> None:
        self._q.append(line)
        if self._idle:  # a plain flag read: while the worker is busy, lines cost no wake at all
            self._idle = False
            self._wake.set()

    def _write_turn(self) -> None:
        """The loop writes the lines of its turn, if that cannot wait; else the worker does."""
        lines, self._turn = self._turn, []
        if not lines:
            return
        now = time.monotonic()
        if now >= self._loop_writes_after and not self._q and self._lock.acquire(blocking=False):
            try:
                done = self._write_now(lines, now)
            except Exception:  # a bug must cost the loop's write, never a line: the worker's
                log.exception("usage log %s: writing on the event loop failed; the worker "
                              "writes the lines", self.path)
                self._loop_writes_after = now + SLOW_PAUSE
                done = 0
            finally:
                self._lock.release()
            if done == len(lines):
                return
            lines = lines[done:]
        for line in lines:
            self._to_worker(line)

    def _write_now(self, lines: list[bytes], started: float) -> int:
        """(Lock held, on the loop.) How many of ``lines`` went into the file; the rest are for
        the worker (nothing written when the worker holds lines: they go first)."""
        if self._held or self._q or self._failing or self._stopping:
            return 0
        result = self._file.write_now(lines)
        if result is None:
            return 0
        n, err = result
        # From here on the lines are in the file: nothing may send them to the worker again.
        self._unsynced += n
        try:
            if n:
                self._observer.lines_written(n)
            if err is not None:
                self._failed(err)
            took = time.monotonic() - started
            if took > self._slow_write:
                self._loop_writes_after = started + SLOW_PAUSE
                log.warning("usage log %s: a write took %.1f ms; the worker thread writes the "
                            "lines for the next %.0f s, so the event loop does not wait on the "
                            "disk", self.path, took * 1000, SLOW_PAUSE)
        except Exception:
            log.exception("usage log %s: after a write on the event loop", self.path)
        return n

    async def aclose(self) -> None:
        """Stop accepting, then write and sync everything accepted (bounded retries on failure)."""
        if self._closed:
            return
        self._closed = True
        lines, self._turn = self._turn, []
        self._q.extend(lines)  # this turn's lines, not yet written: the worker's final pass
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join)
        else:
            await asyncio.to_thread(self._finish)

    # -- worker thread -------------------------------------------------------------------------

    def _run(self) -> None:
        # Write as soon as there is something to write, fsync only once per interval: the batching
        # is what keeps fsync off the per-request cost at high request rates. While the file fails,
        # retries wait for the tick, so a broken disk costs one attempt per interval, not per line.
        next_sync = time.monotonic() + self._interval
        found_at = -math.inf  # when the worker last found lines to write
        dense = False         # and whether there were several
        while not self._stopping:
            if self._failing:
                self._wait(next_sync)
            elif not self._q:
                self._idle = True
                if not self._q:  # re-read after publishing idleness: no append can go unseen
                    self._wait(next_sync)
                self._idle = False
            if self._q and not self._stopping and self._gather > 0:
                found = time.monotonic()
                # Let the lines that follow this one arrive before writing (while the worker is
                # not idle, submitting them costs no wake-up), when more do follow: the last
                # write had several, or lines came again within the gathering time. An isolated
                # line is written at once: the sleep would be a second wake-up for nothing
                # (-20 us a line 20 ms apart, ``python -m bench.usagelog_wake --worker``).
                if dense or found - found_at < self._gather:
                    time.sleep(self._gather)
                found_at = found
            dense = len(self._q) > 1
            now = time.monotonic()
            due = now >= next_sync
            if due or not self._failing:
                self._cycle(sync=due)
            if due:
                next_sync = now + self._interval
        self._finish()

    def _wait(self, deadline: float) -> None:
        self._wake.wait(max(0.0, deadline - time.monotonic()))
        self._wake.clear()

    def _finish(self) -> None:
        for attempt in range(_CLOSE_ATTEMPTS):
            if self._cycle(sync=True, force=True):
                break
            if attempt + 1 < _CLOSE_ATTEMPTS:
                threading.Event().wait(_CLOSE_RETRY_DELAY)
        else:
            self._abandon()
        self._file.close()

    def _cycle(self, *, sync: bool, force: bool = False) -> bool:
        """Write what is queued and held, fsync; True when all of it is durable."""
        with self._lock:
            return self._cycle_locked(sync=sync, force=force)

    def _cycle_locked(self, *, sync: bool, force: bool) -> bool:
        held = self._held
        q = self._q
        while q:  # popleft is atomic against the loop's append: no lock needed
            held.append(q.popleft())
        if self._failing and not held:
            try:  # nothing to retry with: probe, so a fixed path reads as healthy again
                self._file.open()
            except OSError as exc:
                self._failed(exc)
                return False
        if held:
            n, err = self._file.append(held)
            if n:
                del held[:n]
                self._unsynced += n
                self._observer.lines_written(n)
            if err is not None:
                self._failed(err)
                return False
        if self._unsynced and sync:
            try:
                self._file.sync()
            except OSError as exc:
                self._failed(exc)
                return False
            self._unsynced = 0
        if self._failing:
            self._failing = False
            log.warning("usage log %s: writable again; buffered lines written", self.path)
        self._dropping = False
        return not held and not self._q and (self._unsynced == 0 or not force)

    def _failed(self, exc: OSError) -> None:
        self._observer.write_failed()
        if not self._failing:
            self._failing = True
            log.error("usage log %s: cannot write (%s); keeping up to %d lines in memory and "
                      "retrying every %.1fs", self.path, exc.strerror or exc, self._max_pending,
                      self._interval)

    def _drop(self) -> None:
        self._observer.write_failed()
        if self._dropping:
            return
        self._dropping = True
        if self._closed:
            log.error("usage log %s: a request finished after the log was closed; its line is "
                      "dropped", self.path)
        else:
            log.error("usage log %s: %d lines buffered, the limit; new lines are dropped until "
                      "the log is writable again", self.path, self._max_pending)

    def _abandon(self) -> None:
        """Last resort at a clean stop: the lines go to stderr, where a log collector may keep them."""
        lines: list[bytes] = list(self._held)
        self._held.clear()
        n = len(lines)
        if n == 0:
            return
        log.error("usage log %s: still unwritable at shutdown; writing %d lines to stderr",
                  self.path, n)
        _write_stderr(lines)


def _write_stderr(lines: Iterable[bytes]) -> None:
    data = b"".join(lines)
    try:
        while data:
            data = data[os.write(2, data):]
    except OSError:
        log.error("usage log: stderr is not writable either; lines lost")


def uses_file(cfg: UsageLog) -> bool:
    """The log is a real file (not stdout, not off): worth replaying at start."""
    return cfg.path is not None and cfg.path != STDOUT
