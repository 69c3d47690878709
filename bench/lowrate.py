"""``python -m bench.lowrate``: CPU per request at a pod's usual rate, one request at a time.

``make bench`` loads each proxy until it is busy (h2load at c=32): every request then finds the
caches warm and the event loop awake, and the usage log's batches full. A sidecar beside an app
mostly sees something else: a request every few milliseconds, each arriving at a process that
was asleep while the app, the kernel and other pods ran. This sends metered JSON chat completions
one at a time on one keep-alive connection, ``--gap`` seconds apart, to each target in turn
(interleaved rounds, medians), and prints the CPU each target spent per request.

    python -m bench.lowrate                          # this checkout, no-log variant, floor, nginx
    python -m bench.lowrate --base ../wt-base        # + another checkout (its own .venv)
    python -m bench.lowrate --gap 0.002 --requests 1000

The ``this-nolog`` target is this checkout with ``usage_log: {path: null}``: the difference is
what the usage log costs a request at this rate.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import payloads, procfs, targets
from .cli import compare_parser
from .processes import read_ready_port, spawn

_NO_LOG = "usage_log: {path: null}\n"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = compare_parser("python -m bench.lowrate", __doc__)
    p.add_argument("--requests", type=int, default=300, help="requests per round and target")
    p.add_argument("--gap", type=float, default=0.010, help="seconds between requests")
    return p.parse_args(argv)


class _Client:
    """One keep-alive HTTP/1.1 connection sending the same request and reading whole answers."""

    def __init__(self, t: targets.Target, body: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", t.port), timeout=10)
        head = "".join(f"{k}: {v}\r\n" for k, v in t.headers)
        self.request = (f"POST {t.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                        f"application/json\r\nContent-Length: {len(body)}\r\n{head}\r\n"
                        ).encode() + body

    def one(self) -> None:
        self.sock.sendall(self.request)
        buf = b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise SystemExit("the target closed the connection")
            buf += data
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if not sep:
                continue
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"answer: {head[:200]!r}")
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    if len(rest) >= int(value):
                        return
                    break
            else:
                raise SystemExit("an answer without Content-Length")

    def close(self) -> None:
        self.sock.close()


def _cpu_per_request(t: targets.Target, body: bytes, n: int, gap: float) -> float:
    client = _Client(t, body)
    try:
        for _ in range(20):  # the connection and the first requests' one-off work
            client.one()
        time.sleep(0.2)
        cpu0 = procfs.cpu_seconds(t.pids())
        for _ in range(n):
            client.one()
            time.sleep(gap)
        return (procfs.cpu_seconds(t.pids()) - cpu0) * 1e6 / n
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    body = payloads.request_body(stream=False)
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-lowrate-") as tmp:
        work = Path(tmp)
        up = spawn("upstream", [sys.executable, "-m", "bench.upstream", "--port", "0"],
                   log_path=work / "upstream.log", stdout_pipe=True)
        made: list[targets.Target] = []
        try:
            port = read_ready_port(up, 30)
            made.append(targets.sidecar(work, port, "lean", name="this"))
            made.append(targets.sidecar(work, port, "lean", name="this-nolog", extra_config=_NO_LOG))
            for base in a.base:
                exe = base.resolve() / ".venv" / "bin" / "lava-sidecar"
                made.append(targets.sidecar(work, port, "lean", name=base.name, argv=[str(exe)]))
            made += [targets.floor(work, port), targets.nginx(work, port)]
            for r in range(a.rounds):
                for t in made[r % len(made):] + made[:r % len(made)]:
                    got = figures.setdefault(t.name, [])
                    got.append(_cpu_per_request(t, body, a.requests, a.gap))
                    print(f"round {r + 1} {t.name}: {got[-1]:.1f} µs/request", file=sys.stderr)
        finally:
            for t in made:
                t.stop()
            up.stop()
    ref = statistics.median(figures["nginx"])
    print(f"{'target':<16}{'µs/request':>12}{'x nginx':>9}   rounds "
          f"({a.requests} requests {a.gap * 1000:g} ms apart each)")
    for name, got in figures.items():
        med = statistics.median(got)
        print(f"{name:<16}{med:>12.1f}{med / ref:>9.2f}   " + ", ".join(f"{x:.1f}" for x in got))
    return 0


if __name__ == "__main__":
    sys.exit(main())
