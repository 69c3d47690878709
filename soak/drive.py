"""Plays the soak's jobs against the sidecar with a fixed number of workers on one keep-alive client
session, and notes what each client got: status, the sidecar's and Lava's request ids, a cut."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from .workload import Job

#: A client that leaves "before the response" waits this long first (the gateway stalls 1 s).
LEAVE_AFTER = 0.15


@dataclass(frozen=True, slots=True)
class Sent:
    job: Job
    status: int                 # 0: the client left (or the connection broke) before a status
    sidecar_id: str | None      # x-lava-sidecar-request-id, when the response head arrived
    lava_id: str | None         # x-lava-request-id, when Lava answered
    cut: bool                   # the body ended before its framing said it would
    error: str | None = None    # a client-side failure that was not planned
    at: float = 0.0             # time.monotonic() when the client had its answer (or gave up)


async def _one(http: aiohttp.ClientSession, url: str, job: Job) -> Sent:
    if job.leave == "before":
        with contextlib.suppress(TimeoutError, aiohttp.ClientError):  # the latter: a killed sidecar
            async with asyncio.timeout(LEAVE_AFTER):
                await _exchange(http, url, job)
        return Sent(job, 0, None, None, cut=True)
    try:
        return await _exchange(http, url, job)
    except aiohttp.ClientError as exc:
        return Sent(job, 0, None, None, cut=True, error=repr(exc))


async def _exchange(http: aiohttp.ClientSession, url: str, job: Job) -> Sent:
    async with http.post(url + job.path, data=job.body(), headers=job.headers()) as resp:
        sid, lid = resp.headers.get("x-lava-sidecar-request-id"), resp.headers.get("x-lava-request-id")
        cut = False
        if job.leave == "mid":
            await resp.content.readany()
            resp.close()  # the connection goes with it: the client is gone
            return Sent(job, resp.status, sid, lid, cut=True)
        try:
            async for _ in resp.content.iter_any():
                pass
        except aiohttp.ClientPayloadError:
            cut = True
        return Sent(job, resp.status, sid, lid, cut)


async def drive(url: str, jobs: Sequence[Job], *, concurrency: int,
                progress: Callable[[int], None] | None = None) -> list[Sent]:
    """Run every job (``concurrency`` at a time); results in job order."""
    results: list[Sent | None] = [None] * len(jobs)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(jobs)):
        queue.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                results[i] = dataclasses.replace(await _one(http, url, jobs[i]),
                                                 at=time.monotonic())
                if progress is not None:
                    progress(1)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [r for r in results if r is not None]
