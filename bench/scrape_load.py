"""``python -m bench.scrape_load``: what /metrics scrapes cost the proxy, with and without scrapers.

A real stack on loopback: the project's emulator gateway (``proxy.emulator``'s forward path,
everyone admitted, as tests/stack.py runs it) and ``lava-sidecar serve`` in front of it, each its
own process. The registry is first filled the way
a busy pod's is (``--customers`` customers, so /metrics is a few hundred series), then rounds
alternate, in rotating order, between proxy load alone and proxy load with ``--scrapers``
concurrent scrapers hitting /metrics (gzip, as Prometheus asks). The proxy load is h2load,
``--clients`` keep-alive connections, a fixed number of requests per round; each scraper is a
keep-alive connection scraping back to back (``--scrape-gap 0``, a flood far beyond any
Prometheus) or every ``--scrape-gap`` seconds. Prints proxy req/s and p99 per mode (medians over
rounds) and the ratio; compare ratios, not absolutes, on a shared 2-core machine.

    python -m bench.scrape_load                          # this checkout, ~30 s
    python -m bench.scrape_load --base ../wt-base        # also another checkout (its .venv)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import payloads, procfs
from .sidecar_stack import Stack, exe_for, start_stack
from .stats import percentile

CHAT = "/v1/chat/completions"


@dataclass(frozen=True)
class Round:
    rps: float
    p99_ms: float
    errors: int
    scrapes: int
    wall_s: float
    #: The sidecar process's CPU during the round (utime+stime: steal is not charged).
    cpu_s: float


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scrape_load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, action="append", default=[],
                   help="another checkout to measure too (uses DIR/.venv/bin/lava-sidecar)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per mode (default 3)")
    p.add_argument("--requests", type=int, default=2000, help="proxy requests per round")
    p.add_argument("--clients", type=int, default=8, help="proxy connections (default 8)")
    p.add_argument("--scrapers", type=int, default=10, help="concurrent scrapers (default 10)")
    p.add_argument("--scrape-gap", type=float, default=0.0,
                   help="seconds between one scraper's scrapes (default 0: back to back)")
    p.add_argument("--customers", type=int, default=200, help="customers seen before measuring")
    p.add_argument("--serve-gateway", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _start(work: Path, name: str, exe: list[str]) -> Stack:
    # Every customer a label, as a merchant with few large customers runs it: the biggest
    # exposition the caps allow.
    return start_stack(work, name, exe, "gateway: {client: lean}\n"
                       "metrics: {customer_label: true, max_customers: 1000}\n"
                       "logging: {level: warning, format: json}\n")


def _headers(customer: str) -> list[tuple[str, str]]:
    return [("Authorization", "Bearer sk-app-dummy"), ("X-Lava-Customer-Id", customer),
            ("X-Lava-Meter", "chat-tokens"), ("Content-Type", "application/json")]


def _fill(stack: Stack, customers: int) -> int:
    """One request per customer, so /metrics carries their series; returns the scrape's size."""
    body = payloads.request_body(stream=False)
    for i in range(customers):
        req = urllib.request.Request(f"http://127.0.0.1:{stack.port}{CHAT}", data=body,
                                     headers=dict(_headers(f"cus_bench_{i:04d}")), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.admin}/metrics", timeout=10) as r:
        return len(r.read())


async def _scraper(port: int, gap: float, stop: asyncio.Event, count: list[int]) -> None:
    """Keep-alive GET /metrics as Prometheus sends it; reads each whole response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    req = (b"GET /metrics HTTP/1.1\r\nHost: bench\r\nAccept: text/plain;version=0.0.4\r\n"
           b"Accept-Encoding: gzip\r\n\r\n")
    try:
        while not stop.is_set():
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            count[0] += 1
            if gap:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), gap)
    finally:
        writer.close()


async def _round(stack: Stack, args: argparse.Namespace, scrapers: int, work: Path) -> Round:
    body_path, log_path = work / "body.json", work / "h2load.tsv"
    body_path.write_bytes(payloads.request_body(stream=False))
    log_path.unlink(missing_ok=True)  # h2load appends
    argv = ["h2load", "--h1", "-n", str(args.requests), "-c", str(args.clients), "-t", "1",
            "-d", str(body_path), f"--log-file={log_path}"]
    for name, value in _headers("cus_bench_0000"):
        argv += ["-H", f"{name}: {value}"]
    argv.append(f"http://127.0.0.1:{stack.port}{CHAT}")
    stop, count = asyncio.Event(), [0]
    tasks = [asyncio.create_task(_scraper(stack.admin, args.scrape_gap, stop, count))
             for _ in range(scrapers)]
    await asyncio.sleep(0.2 if scrapers else 0)  # the scrapers are going before the load starts
    pids = stack.sidecar.pids()
    cpu0, scrapes0 = procfs.cpu_seconds(pids), count[0]
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        started = time.monotonic()
        try:
            await asyncio.wait_for(proc.wait(), 120)  # bounded
        except TimeoutError:
            proc.kill()  # the one we started, by its handle
            await proc.wait()
        wall = time.monotonic() - started
        cpu, scrapes = procfs.cpu_seconds(pids) - cpu0, count[0] - scrapes0
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    lat = []
    for line in log_path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1] == "200":
            lat.append(int(parts[2]) / 1000)
    return Round(rps=len(lat) / wall if wall else 0.0, p99_ms=percentile(lat, 99) or 0.0,
                 errors=args.requests - len(lat), scrapes=scrapes, wall_s=wall, cpu_s=cpu)


async def _serve_gateway(port: int) -> None:
    """The child process: the emulator gateway until SIGTERM."""
    import signal

    from proxy.emulator.server import running_gateway

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running_gateway(os.environ["LAVA_SECRET_KEY"], port=port):
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.serve_gateway is not None:
        asyncio.run(_serve_gateway(args.serve_gateway))
        return 0
    report: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scrape-") as tmp:
        work = Path(tmp)
        for name, checkout in [("this", None), *((b.name, b) for b in args.base)]:
            stack = _start(work, name, exe_for(checkout))
            try:
                size = _fill(stack, args.customers)
                print(f"{name}: /metrics is {size} bytes after {args.customers} customers",
                      file=sys.stderr)
                rounds: dict[int, list[Round]] = {0: [], args.scrapers: []}
                for r in range(args.rounds):
                    order = [0, args.scrapers] if r % 2 == 0 else [args.scrapers, 0]
                    for scrapers in order:
                        res = asyncio.run(_round(stack, args, scrapers, work))
                        rounds[scrapers].append(res)
                        print(f"  round {r + 1} scrapers={scrapers}: {res.rps:.0f} req/s, "
                              f"p99 {res.p99_ms:.1f} ms, {res.scrapes} scrapes, "
                              f"sidecar CPU {res.cpu_s:.2f} s, "
                              f"{res.errors} errors", file=sys.stderr)
            finally:
                stack.stop()
            report[name] = _summary(rounds, args.scrapers)
    print(json.dumps({"clients": args.clients, "scrapers": args.scrapers,
                      "scrape_gap_s": args.scrape_gap, "requests_per_round": args.requests,
                      "rounds": args.rounds, "results": report}, indent=2))
    for name, s in report.items():
        print(f"{name}: 0 scrapers {s['rps_0']} req/s p99 {s['p99_ms_0']} ms | "
              f"{args.scrapers} scrapers {s['rps_n']} req/s p99 {s['p99_ms_n']} ms "
              f"({s['scrapes_per_s']} scrapes/s) | throughput ratio {s['ratio']} | sidecar CPU "
              f"{s['cpu_us_per_request_0']} -> {s['cpu_us_per_request_n']} us per proxied request, "
              f"{s['cpu_us_per_scrape']} us per scrape")
    return 0


def _summary(rounds: dict[int, list[Round]], n: int) -> dict[str, object]:
    base, load = rounds[0], rounds[n]
    rps0 = statistics.median(r.rps for r in base)
    rpsn = statistics.median(r.rps for r in load)
    wall = sum(r.wall_s for r in load) or 1.0
    per_req0 = statistics.median(r.cpu_s / (r.rps * r.wall_s or 1) for r in base)
    per_reqn = statistics.median(r.cpu_s / (r.rps * r.wall_s or 1) for r in load)
    # What the scrapes added, spread over them (the proxied requests' own CPU taken out).
    extra = sum(r.cpu_s - per_req0 * r.rps * r.wall_s for r in load)
    scrapes = sum(r.scrapes for r in load)
    return {
        "rps_0": round(rps0), "p99_ms_0": round(statistics.median(r.p99_ms for r in base), 1),
        "rps_n": round(rpsn), "p99_ms_n": round(statistics.median(r.p99_ms for r in load), 1),
        "ratio": round(rpsn / rps0, 3) if rps0 else None,
        "scrapes_per_s": round(scrapes / wall),
        "cpu_us_per_request_0": round(per_req0 * 1e6), "cpu_us_per_request_n": round(per_reqn * 1e6),
        "cpu_us_per_scrape": round(extra / scrapes * 1e6) if scrapes else None,
        "errors": sum(r.errors for r in base + load),
    }


if __name__ == "__main__":
    raise SystemExit(main())
