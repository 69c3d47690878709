"""``python -m bench.profile``: where the sidecar spends its CPU, sampled by py-spy under h2load load.

Starts the fake upstream and one sidecar, drives non-streaming requests at it (``--streams``:
streamed chat completions, 64 chunks paced 2 ms, 16 at a time, as the stream-CPU phase;
``--gemini``: the same as Gemini's ``streamGenerateContent?alt=sse`` through ``/gemini``), records
it with ``py-spy record -f raw`` and prints the hottest frames, by own time and including callees.
py-spy is a tool, not a dependency: pass ``--py-spy PATH`` or have it on PATH.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import payloads, targets
from .measure import Plan
from .processes import StartupError
from .run import _start_upstream


def _package(frame: str) -> str:
    """``handle (proxy/handler.py:89)`` → ``proxy/handler.py``; library frames → their package."""
    where = frame.rpartition("(")[2].rstrip(")").rpartition(":")[0]
    if where.startswith("proxy/"):
        return where
    return where.split("/", 1)[0] if "/" in where else where or "?"


def summarize(folded: str, top: int) -> str:
    """py-spy's raw (folded) stacks → top-N tables: own samples by package/module and by frame,
    and inclusive samples by frame."""
    own: collections.Counter[str] = collections.Counter()
    pkg: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        own[frames[-1]] += n
        pkg[_package(frames[-1])] += n
        for frame in set(frames):
            incl[frame] += n
    if not total:
        return "no samples\n"
    out = [f"{total} samples", "", "own time by module (uvloop's C code shows as asyncio/runners.py):"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in pkg.most_common(top)]
    out += ["", "own time (the frame itself):"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    out += ["", "inclusive (the frame and what it calls):"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(out) + "\n"


_STREAM_LOAD = """
import asyncio, uvloop
from bench import payloads, streams, targets
uvloop.run(streams.run_streams({port}, targets.CHAT_PATH, targets.APP_HEADERS,
           payloads.request_body(stream=True, model=payloads.FAST_MODEL), count={count},
           concurrency=16, spacing=0.008, time_limit=600))
"""
_GEMINI_LOAD = """
import asyncio, uvloop
from bench import payloads, streams, targets
uvloop.run(streams.run_streams({port}, "/gemini" + payloads.gemini_path(), targets.GEMINI_HEADERS,
           payloads.gemini_request_body(), count={count}, concurrency=16, spacing=0.008,
           time_limit=600, gemini=True))
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    p.add_argument("--client", default="lean", help="gateway.client of the sidecar to profile")
    p.add_argument("--seconds", type=int, default=10, help="py-spy recording time")
    p.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--out", type=Path, help="also keep the raw folded stacks here")
    p.add_argument("--gil", action="store_true",
                   help="only samples of the thread holding the GIL: Python work, no idle waits")
    p.add_argument("--streams", action="store_true",
                   help="drive streamed completions (64 chunks paced 2 ms, 16 at a time) instead")
    p.add_argument("--gemini", action="store_true",
                   help="drive streamed Gemini completions (the same 64 tokens, paced the same) instead")
    p.add_argument("--quotas", choices=("memory", "redis"),
                   help="the sidecar with all four quota limits on this store (a redis-server is started)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lava-profile-") as tmp:
        work = Path(tmp)
        upstream, port = _start_upstream(work, Plan.smoke())
        sidecar = None
        load = None
        redis = None
        try:
            if a.quotas == "redis":
                redis, redis_url = targets.redis_server(work)
                sidecar = targets.sidecar_quota(work, port, "redis", redis_url)
            elif a.quotas == "memory":
                sidecar = targets.sidecar_quota(work, port, "memory")
            else:
                sidecar = targets.sidecar(work, port, a.client)
            body = work / "body.json"
            body.write_bytes(payloads.request_body(stream=False))
            argv_load = ["h2load", "--h1", "-D", str(a.seconds + 4), "-c", "32", "-t", "1", "-d", str(body),
                         "-H", "Content-Type: application/json"]
            for k, v in sidecar.headers:
                argv_load += ["-H", f"{k}: {v}"]
            argv_load.append(sidecar.url())
            if a.streams or a.gemini:
                # The stream client in its own process, so py-spy samples only the sidecar.
                argv_load = [sys.executable, "-c", (_GEMINI_LOAD if a.gemini else _STREAM_LOAD).format(
                    port=sidecar.port, count=int((a.seconds + 4) * 16 / 0.15))]
            load = subprocess.Popen(argv_load, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    cwd=Path(__file__).resolve().parents[1])
            raw = work / "profile.txt"
            res = subprocess.run([a.py_spy, "record", "-p", str(sidecar.pids()[0]), "-d", str(a.seconds),
                                  "-r", "200", "-f", "raw", "-o", str(raw), *(["--gil"] if a.gil else [])],
                                 capture_output=True, text=True, timeout=a.seconds + 60, check=False)
            if res.returncode != 0 or not raw.exists():
                print(f"py-spy failed: {res.stderr[-2000:]}", file=sys.stderr)
                return 1
            folded = raw.read_text()
            if a.out is not None:
                a.out.write_text(folded)
            print(summarize(folded, a.top))
        except StartupError as exc:
            print(exc, file=sys.stderr)
            return 1
        finally:
            if load is not None:
                load.terminate()
                load.wait(timeout=10)
            if sidecar is not None:
                sidecar.stop()
            if redis is not None:
                redis.stop()
            upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
