"""``python -m bench.stalled_bodies``: what request bodies refused with a 408 leave behind in a real
``lava-sidecar serve`` (issue 24), as RSS after each round.

A real stack on loopback (``bench.sidecar_stack``: the emulator gateway and ``lava-sidecar serve``
with a short ``limits.body_idle_timeout_seconds``, each its own process). After a warm-up of
ordinary requests the baseline RSS is read; then, for each shape (``--shape COUNTxMIB``, default
``8x31`` and ``64x2``), ``--rounds`` rounds each send COUNT bodies of MIB MiB at once, every one a
byte short of its ``Content-Length``, and wait for their 408s and the closes that follow. The
sidecar's RSS (``/proc/PID/status``) and its ``lava_sidecar_buffered_body_bytes`` are printed
after each round, and again after ``--after`` ordinary requests. A body that is still held after
its 408 shows as RSS that grows round over round.

    python -m bench.stalled_bodies                       # this checkout, ~1 min
    python -m bench.stalled_bodies --base /work/main     # also another checkout (its .venv)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import sys
import tempfile
import urllib.request
from pathlib import Path

from .cli import compare_parser
from .sidecar_stack import CHAT, WHO, KeepAliveClient, Stack, exe_for, rss_mb, start_stack

_MIB = 1024 * 1024
#: The sidecar lingers this long after a refusal before it closes (inbound.protocol.LINGER_SECONDS).
LINGER = 2.0


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = compare_parser("python -m bench.stalled_bodies", __doc__,
                       rounds_help="rounds per shape (default 3)")
    p.add_argument("--shape", action="append", default=[],
                   help="COUNTxMIB: bodies per round and their size (default: 8x31 and 64x2)")
    p.add_argument("--idle", type=float, default=1.0,
                   help="limits.body_idle_timeout_seconds (default 1)")
    p.add_argument("--after", type=int, default=2000,
                   help="ordinary requests after the rounds (default 2000)")
    return p.parse_args(argv)


def _start(work: Path, name: str, exe: list[str], idle: float) -> Stack:
    return start_stack(work, name, exe, f"limits: {{body_idle_timeout_seconds: {idle}}}\n"
                       "logging: {level: warning, format: json}\n")


def buffered_bytes(admin: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^lava_sidecar_buffered_body_bytes (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def stalled(port: int, body: memoryview) -> int:
    """One body a byte short of its length; the status the sidecar answers (read until it closes)."""
    loop = asyncio.get_running_loop()
    head = (b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\n"
            + WHO + b"Content-Length: %d\r\n\r\n" % len(body))
    with socket.socket() as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, head)
        await loop.sock_sendall(sock, body[:-1])  # no copy: the same buffer for every body
        reply = b""
        while chunk := await loop.sock_recv(sock, 65536):
            reply += chunk
    parts = reply.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


async def _round(port: int, count: int, body: memoryview) -> list[int]:
    async with asyncio.timeout(300):
        return await asyncio.gather(*(stalled(port, body) for _ in range(count)))


async def _ordinary(port: int, n: int, conns: int = 4) -> int:
    """``n`` small chat requests on ``conns`` keep-alive connections; how many were answered 200."""

    async def one(k: int) -> int:
        client = await KeepAliveClient.open(port)
        try:
            return sum([(await client.call())[0] == 200 for _ in range(k)])
        finally:
            client.close()

    return sum(await asyncio.gather(*(one(n // conns) for _ in range(conns))))


def _measure(stack: Stack, shapes: list[tuple[int, int]], rounds: int, after: int) -> dict[str, object]:
    pid = stack.sidecar.pid
    asyncio.run(_ordinary(stack.port, 200))
    baseline = rss_mb(pid)
    print(f"  baseline (after 200 ordinary requests): RSS {baseline:.0f} MB", file=sys.stderr)
    out: dict[str, object] = {"baseline_rss_mb": round(baseline)}
    for count, mib in shapes:
        body = memoryview(b"x" * (mib * _MIB))
        series = []
        for r in range(rounds):
            statuses = asyncio.run(_round(stack.port, count, body))
            asyncio.run(asyncio.sleep(LINGER + 0.5))  # the closes after the 408s
            rss, held = rss_mb(pid), buffered_bytes(stack.admin)
            series.append(round(rss))
            print(f"  {count} x {mib} MiB round {r + 1}: {statuses.count(408)}/{count} answered "
                  f"408, RSS {rss:.0f} MB (+{rss - baseline:.0f}), buffered_body_bytes "
                  f"{held:.0f}", file=sys.stderr)
        out[f"{count}x{mib}MiB_rss_mb"] = series
    ok = asyncio.run(_ordinary(stack.port, after))
    rss = rss_mb(pid)
    print(f"  after {after} ordinary requests ({ok} ok): RSS {rss:.0f} MB (+{rss - baseline:.0f})",
          file=sys.stderr)
    out["after_ordinary_rss_mb"] = round(rss)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    shapes = [tuple(int(v) for v in s.lower().split("x", 1)) for s in args.shape or ["8x31", "64x2"]]
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stalled-") as tmp:
        for name, checkout in [("this", None), *((b.name, b) for b in args.base)]:
            print(f"{name}:", file=sys.stderr)
            stack = _start(Path(tmp), name, exe_for(checkout), args.idle)
            try:
                report[name] = _measure(stack, shapes, args.rounds, args.after)  # type: ignore[arg-type]
            finally:
                stack.stop()
    print(json.dumps({"rounds": args.rounds, "idle_seconds": args.idle, "results": report}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
