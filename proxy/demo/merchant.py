"""The merchant example beside ``demo --keep-running``: ``python -m examples.merchant`` started as
a child process against the demo's local Lava and sidecar, when the source tree has it (an
installed wheel does not ship examples/). It builds its page on first run (npm, esbuild)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from ..secret import Secret

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "merchant" / "__main__.py"
#: First run: ``npm ci`` and the esbuild bundle happen before it listens.
START_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Merchant:
    url: str | None        # the page, when it started
    note: str              # one line for the demo's output


async def _url(proc: asyncio.subprocess.Process) -> str | None:
    assert proc.stdout is not None
    while line := (await proc.stdout.readline()).decode(errors="replace"):
        found = re.match(r"merchant example: (http://\S+?)/?\s", line)
        if found:
            return found.group(1)
    return None


async def _drain(proc: asyncio.subprocess.Process) -> None:
    """Keep reading its output so it never blocks on a full pipe."""
    assert proc.stdout is not None
    while await proc.stdout.readline():
        pass


@contextlib.asynccontextmanager
async def running_merchant(lava_url: str, sidecar_url: str, secret: Secret, plan_id: str,
                           bundle_id: str | None) -> AsyncIterator[Merchant]:
    if not EXAMPLE.exists():
        yield Merchant(None, "merchant example: not in this install (examples/merchant in the "
                             "source tree)")
        return
    args = ["--lava", lava_url, "--sidecar", sidecar_url, "--plan-id", plan_id]
    if bundle_id is not None:
        args += ["--bundle-id", bundle_id]
    env = {**os.environ, "LAVA_SECRET_KEY": secret.reveal()}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.merchant", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=None)
    drain: asyncio.Task[None] | None = None
    try:
        try:
            url = await asyncio.wait_for(_url(proc), START_TIMEOUT)
        except TimeoutError:
            url = None
        if url is None:
            yield Merchant(None, "merchant example: did not start (its output above says why)")
            return
        drain = asyncio.create_task(_drain(proc))
        yield Merchant(url, f"merchant example: {url}/")
    finally:
        if proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if drain is not None:
            drain.cancel()
