"""``kill -9`` on a real ``lava-sidecar serve`` process (the OOM killer, a node losing the container)
right after answers completed: every request the gateway answered completely, and every answer a
client saw complete, has exactly one usage line. The line is handed to the kernel when the request
finishes, so only a machine crash, not the death of the process, can cost the last fsync interval
(which is set to a minute here, so no fsync can be what saved a line)."""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from proxy.emulator.server import RunningGateway, running_gateway

from ..conftest import TEST_SECRET
from .harness import who
from .process import SidecarProcess, sidecar_process

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

#: An answer this long before the kill must have its line (the issue: "50 ms after a client saw
#: its answer complete loses no line"); closer than that it races the record being made.
MARGIN = 0.05

#: Long enough that no tick comes during a test: what survives was written, not fsynced.
NO_FSYNC = {"fsync_interval_seconds": 60}


@dataclass(frozen=True)
class Answer:
    sidecar_id: str
    lava_id: str | None


def sdk(sp: SidecarProcess, n: int) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=sp.url + "/v1", api_key="sk-app-dummy-credential",
                              default_headers=who(f"cus_k{n % 3}"), max_retries=0)


@asynccontextmanager
async def sdk_clients(sp: SidecarProcess, n: int) -> AsyncIterator[list[openai.AsyncOpenAI]]:
    """``n`` clients, closed however the test ends: a failed assertion must not leave their
    connections to the garbage collector, whose warning would fail whichever test runs then."""
    clients = [sdk(sp, i) for i in range(n)]
    try:
        yield clients
    finally:
        for c in clients:
            await c.close()


async def ask(client: openai.AsyncOpenAI, n: int) -> Answer:
    """One chat completion, streamed for odd ``n``, read to its end by the official SDK."""
    messages = [{"role": "user", "content": f"request {n}"}]
    if n % 2:
        async with client.chat.completions.with_streaming_response.create(
                model="gpt-4o-mini", messages=messages, stream=True) as resp:  # type: ignore[arg-type]
            async for _ in resp.iter_lines():
                pass
            return Answer(resp.headers["x-lava-sidecar-request-id"],
                          resp.headers.get("x-lava-request-id"))
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    raw.parse()
    return Answer(raw.headers["x-lava-sidecar-request-id"], raw.headers.get("x-lava-request-id"))


async def kill9(sp: SidecarProcess) -> None:
    sp.proc.send_signal(signal.SIGKILL)
    assert await sp.exit_code(within=10) == -signal.SIGKILL


async def served_completely(gw: RunningGateway) -> list[str]:
    """Lava request ids of every request the gateway answered to its last byte."""
    for seen in gw.seen:
        await seen.finished()
    return [s.request_id for s in gw.seen if s.complete]


def assert_one_line_each(sp: SidecarProcess, answers: list[Answer], billed: list[str]) -> None:
    lines = sp.records()  # every line parses: a kill never leaves a torn one behind
    by_sidecar = Counter(r["request_id"] for r in lines)
    by_lava = Counter(r["lava_request_id"] for r in lines)
    assert [sid for sid, n in by_sidecar.items() if n > 1] == []
    missing = [a.sidecar_id for a in answers if by_sidecar[a.sidecar_id] != 1]
    assert missing == [], f"{len(missing)} of {len(answers)} answered requests have no line"
    unbilled = [lid for lid in billed if by_lava[lid] != 1]
    assert unbilled == [], f"{len(unbilled)} of {len(billed)} billed requests have no line"


#: The promise is MARGIN (50 ms): the line is handed to the usage-log thread as the record is made
#: and written when that thread next holds the GIL, which on a loaded 2-core machine is not always
#: before a kill sent the same instant (0 and 10 ms failed about one run in ten). Kills that close
#: are covered by the traffic test below, which asks only "at most one line" of them.
@pytest.mark.parametrize("delay_ms", [50, 100])
async def test_kill9_after_the_last_answer_loses_no_line(tmp_path: Path, delay_ms: int) -> None:
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, usage_log=NO_FSYNC) as sp, \
            sdk_clients(sp, 4) as clients:
        sem = asyncio.Semaphore(8)

        async def one(n: int) -> Answer:
            async with sem:
                return await ask(clients[n % 4], n)

        answers = await asyncio.gather(*(one(n) for n in range(60)))
        await asyncio.sleep(delay_ms / 1000)
        await kill9(sp)
        billed = await served_completely(gw)
    assert len(billed) == len(answers) == 60
    assert_one_line_each(sp, list(answers), billed)


async def test_kill9_under_traffic_keeps_every_completed_answer(tmp_path: Path) -> None:
    """Traffic keeps flowing; the kill lands 0-50 ms after some answer completed. Requests cut by
    the kill may or may not have a line (the sidecar had not finished them), but never two, and
    every answer that completed ``MARGIN`` (50 ms, the issue's promise) before the kill has its
    line; one that completed closer to it races the record being made, and has at most one."""
    rng = random.Random(16)
    async with running_gateway(TEST_SECRET) as gw, \
            sidecar_process(tmp_path, gw.url, usage_log=NO_FSYNC) as sp, \
            sdk_clients(sp, 4) as clients:
        done: list[tuple[float, Answer]] = []
        counter = itertools.count()
        stop, enough = asyncio.Event(), asyncio.Event()

        async def worker(w: int) -> None:
            while not stop.is_set():
                n = next(counter)
                try:
                    answer = await ask(clients[w], n)
                except openai.APIError:
                    return  # the kill cut it
                if not stop.is_set():
                    done.append((time.monotonic(), answer))
                    if len(done) >= 80:
                        enough.set()

        workers = [asyncio.ensure_future(worker(w)) for w in range(4)]
        async with asyncio.timeout(30):
            await enough.wait()
        # Traffic keeps flowing through the sleep, so the kill still lands 0-50 ms after the latest
        # answer; the MARGIN in front only makes sure the first 80 are clear of it however fast a
        # loaded machine happens to answer (CI once saw 21 answers inside 50 ms).
        await asyncio.sleep(MARGIN + rng.uniform(0, 0.05))
        stop.set()  # answers completing from here on race the kill: not counted as completed
        killed_at = time.monotonic()
        answered = [a for at, a in done if killed_at - at >= MARGIN]
        assert len(answered) >= 80  # every answer counted before the sleep is clear of the kill
        await kill9(sp)
        await asyncio.gather(*workers, return_exceptions=True)
        for seen in gw.seen:
            await seen.finished()
    by_sidecar = Counter(r["request_id"] for r in sp.records())
    assert [sid for sid, n in by_sidecar.items() if n > 1] == []
    assert [a.sidecar_id for a in answered if by_sidecar[a.sidecar_id] != 1] == []
