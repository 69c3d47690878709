"""The soak's SIGKILL phase: traffic against the sidecar, ``kill -9`` 0-50 ms after an answer
completed, a new sidecar on the same usage log, more traffic, a clean stop; then the reconciliation.

Zero lost lines means: every answer a client received complete (whatever its status) has exactly
one line, and so does every request the gateway answered completely for such a client (answers
seen less than ``MARGIN`` before the kill race it, and are counted apart); after the
restart, every request whose response head arrived has its line too (as in the main soak). Before
it, requests that did not finish (the kill's, a fault's or a leaving client's) may have a line or
not, never two; they are counted apart. The pure part is ``reconcile_kill``; ``kill_phase`` runs
it against real processes.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from proxy.usagelog import read_lines

from .drive import Sent, drive
from .reconcile import Served
from .workload import plan

#: How long after a completed answer the kill lands, at most (seconds).
KILL_WITHIN = 0.05
#: An answer a client had this long before the kill must have its line (issue 16: "50 ms after a
#: client saw its answer complete"). Closer ones race the kill: counted, and the closest reported.
MARGIN = 0.05


class Process(Protocol):
    """What the phase needs of a started sidecar (``soak.run.Child``)."""

    @property
    def url(self) -> str: ...

    @property
    def proc(self) -> asyncio.subprocess.Process: ...

    async def quiesce(self) -> None: ...


@dataclass(slots=True)
class KillReport:
    requests: int = 0
    records: int = 0
    #: Answers received complete (before the kill, and after the restart).
    completed: int = 0
    lost: int = 0
    duplicated: int = 0
    #: Lines that do not parse (a torn write): must be zero.
    torn: int = 0
    #: Before the kill, not finished (cut by it, by a fault, or left): with a line / without one.
    cut_recorded: int = 0
    cut_unrecorded: int = 0
    #: Answered less than ``MARGIN`` before the kill (or after it, from the socket's buffer).
    racing_recorded: int = 0
    racing_unrecorded: int = 0
    #: Of the answers without a line, how long before the kill the earliest was seen (ms).
    earliest_unrecorded_ms: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.torn)


def parse(lines: Iterable[bytes]) -> tuple[list[dict[str, Any]], int]:
    """The usage log's lines as documents, and how many did not parse."""
    docs, torn = [], 0
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            torn += 1
            continue
        if isinstance(doc, dict):
            docs.append(doc)
    return docs, torn


def reconcile_kill(sent: Sequence[Sent], served: Sequence[Served], complete: Mapping[str, bool],
                   records: Sequence[Mapping[str, Any]], torn: int,
                   restarted: Collection[int], kill_at: float,
                   margin: float = MARGIN) -> KillReport:
    """``complete``: lava request id → whether the gateway delivered its whole answer;
    ``restarted``: the jobs sent to the sidecar that replaced the killed one; ``kill_at``: when
    the kill was sent (``Sent.at``'s clock)."""
    report = KillReport(requests=len(sent), records=len(records), torn=torn)
    ids = Counter(r["request_id"] for r in records)
    lava_ids = Counter(r["lava_request_id"] for r in records if r["lava_request_id"])
    report.duplicated = sum(n - 1 for n in ids.values() if n > 1) + \
        sum(n - 1 for n in lava_ids.values() if n > 1)
    finished = [s for s in sent if s.sidecar_id is not None and (
        (s.error is None and not s.cut) or s.job.n in restarted)]
    report.completed = len(finished)
    billed = {sv.soak_id: sv.lava_id for sv in served if complete.get(sv.lava_id)}
    for s in finished:
        lava = billed.get(s.job.n)
        recorded = bool(ids[s.sidecar_id]) and (lava is None or bool(lava_ids[lava]))
        ahead = kill_at - s.at
        if s.job.n not in restarted and ahead < margin:
            if recorded:
                report.racing_recorded += 1
            else:
                report.racing_unrecorded += 1
        if not recorded:
            ms = round(ahead * 1000, 2)
            if s.job.n not in restarted:
                prev = report.earliest_unrecorded_ms
                report.earliest_unrecorded_ms = ms if prev is None else max(prev, ms)
        if not recorded and (s.job.n in restarted or ahead >= margin):  # twice: duplicated
            report.lost += 1
            _note(report, f"job {s.job.n} ({s.sidecar_id}, gateway {lava}): "
                  f"{ids[s.sidecar_id]} lines")
    finished_jobs = {s.job.n for s in finished}
    for s in sent:
        if s.job.n in finished_jobs or s.job.n in restarted:
            continue
        if s.sidecar_id is not None and ids[s.sidecar_id]:
            report.cut_recorded += 1
        else:
            report.cut_unrecorded += 1
    return report


def _note(report: KillReport, message: str) -> None:
    if len(report.problems) < 50:
        report.problems.append(message)


async def kill_phase(requests: int, concurrency: int, usage_log: Path, backups: int,
                     start: Callable[[], Awaitable[Process]], seen: Callable[[], Awaitable[
                         tuple[list[Served], dict[str, bool]]]], *, seed: int = 7) -> KillReport:
    """Half the jobs against one sidecar, killed after ``requests // 8`` answers; the rest against
    its replacement. ``start`` starts a sidecar on the usage log; ``seen`` is the gateway's record."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible delay, not a secret
    jobs = plan(requests, start=10_000_000, seed=seed)
    first, second = jobs[: requests // 2], jobs[requests // 2:]
    child = await start()
    answered, kill_at = 0, 0.0
    fired = asyncio.Event()

    def progress(_: int) -> None:
        nonlocal answered
        answered += 1
        if answered == requests // 8:
            asyncio.get_running_loop().call_later(rng.uniform(0, KILL_WITHIN), kill)

    def kill() -> None:
        nonlocal kill_at
        kill_at = time.monotonic()
        child.proc.send_signal(signal.SIGKILL)
        fired.set()

    sent = await drive(child.url, first, concurrency=concurrency, progress=progress)
    async with asyncio.timeout(30):
        await fired.wait()
        await child.proc.wait()
    child = await start()
    sent += await drive(child.url, second, concurrency=concurrency)
    await child.quiesce()
    child.proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        await child.proc.wait()
    served, complete = await seen()
    records, torn = parse(read_lines(str(usage_log), backups))
    return reconcile_kill(sent, served, complete, records, torn, {j.n for j in second}, kill_at)


def figures(report: KillReport) -> dict[str, Any]:
    return {"requests": report.requests, "records": report.records, "completed": report.completed,
            "lost": report.lost, "duplicated": report.duplicated, "torn": report.torn,
            "cut_recorded": report.cut_recorded, "cut_unrecorded": report.cut_unrecorded,
            "racing_recorded": report.racing_recorded,
            "racing_unrecorded": report.racing_unrecorded,
            "earliest_unrecorded_ms": report.earliest_unrecorded_ms}
