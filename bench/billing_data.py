"""``python -m bench.billing_data``: issue 24's billing-data figures, this checkout against others.

``prices``: a Lava whose meter listing holds absurd prices beside a good one (a rate of 9e999999,
a meter of 100,000 tiers; not the meter without ``meter_id``: it fails a whole listing before the
fix, so nothing would be measured) and ``lava-sidecar serve`` in front of it. Rounds alternate,
in rotating order, h2load on each meter; prints req/s, p99 and the sidecar's CPU per request per
meter (medians over rounds), the ratio of each absurd meter to the good one, and the usage log's
line sizes per meter.

``customers``: a usage log of ``--customers`` distinct customers (one line each), replayed at start
by ``serve``, then a probe (one proxied request after another) before and while a ``/usage``
reader asks back to back (every page, then again). Prints RSS with no history and after the
replay (and per customer), ``/usage`` latency, and the probe's p50/p99/max before and during.
``--cap`` sets ``usage_totals.max_customers`` where the checkout knows it.

``steps``: in this process, ``/usage``'s work on the event loop at ``--customers`` customers, in
CPU time (``thread_time``, so a busy machine's preemption is not counted): every step between two
yields while pages are read back to back (per-meter walks in slices, pages rendered in slices),
with a record between reads. The longest step is what a proxied request can wait behind.

Each stack is the project's emulator gateway (its forward path; the listing route added here) and
``serve``, each its own process on loopback; stopped by PID. Compare ratios, not absolutes, on a
shared machine.

    python -m bench.billing_data prices                       # ~1 min
    python -m bench.billing_data prices --base ../main        # and another checkout (its .venv)
    python -m bench.billing_data customers --cap 10000        # RSS at the cap, /usage under load
    python -m bench.billing_data steps                        # the longest step on the loop
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from . import payloads, procfs
from .processes import Proc, free_port, http_get_status, spawn, wait_ready
from .stats import percentile

CHAT = "/v1/chat/completions"
METERS = ("chat", "huge-rate", "many-tiers")
_NEXT = re.compile(rb'"next_cursor": ?(null|"([A-Za-z0-9_-]+)")')


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.billing_data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="?", choices=("prices", "customers", "steps"), default="prices")
    p.add_argument("--base", type=Path, action="append", default=[],
                   help="another checkout to measure too (uses DIR/.venv/bin/lava-sidecar)")
    p.add_argument("--rounds", type=int, default=3, help="prices: rounds per meter (default 3)")
    p.add_argument("--requests", type=int, default=500, help="prices: requests per round")
    p.add_argument("--clients", type=int, default=4, help="prices: h2load connections")
    p.add_argument("--customers", type=int, default=100_000, help="customers: in the log")
    p.add_argument("--cap", type=int, default=None, help="customers: usage_totals.max_customers")
    p.add_argument("--probes", type=int, default=500, help="customers: probe requests per phase")
    p.add_argument("--reads", type=int, default=3000, help="steps: /usage reads")
    p.add_argument("--serve-gateway", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--read-usage", metavar="ADMIN_URL", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# -- the child processes ---------------------------------------------------------------------

def listing() -> list[dict[str, Any]]:
    def meter(slug: str, tiers: list[tuple[int, str]]) -> dict[str, Any]:
        return {"meter_id": f"mtr_{slug}", "meter_slug": slug, "name": slug, "rate_type": "fixed",
                "tier_type": "tokens_1m", "created_at": "2026-09-21T14:13:20Z",
                "tiers": [{"start": s, "rate": r, "type": "tokens_1m"} for s, r in tiers]}
    return [meter("chat", [(0, "3.00")]), meter("huge-rate", [(0, "9e999999")]),
            meter("many-tiers", [(i * 10, "1") for i in range(100_000)])]


async def _serve_gateway(port: int) -> None:
    """The emulator's forward gateway, listing ``listing()`` at GET /v1/meters, until SIGTERM."""
    from aiohttp import web

    from proxy.emulator.server import running_gateway

    body = json.dumps({"data": listing(), "has_more": False, "next_cursor": None}).encode()

    async def meters(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running_gateway(os.environ["LAVA_SECRET_KEY"], port=port,
                               extra_routes=lambda app: app.router.add_get("/v1/meters", meters)):
        print("ready", flush=True)
        await stop.wait()


async def _read_usage(admin: str) -> None:
    """A dashboard gone wild: every page of /usage back to back, then again, until SIGTERM. Finds
    the cursor without parsing the JSON (parsing would cost this process more than the sidecar
    spends answering). A checkout without pages answers everything at once, every time."""
    import aiohttp

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    latencies: list[float] = []
    first: list[float] = []
    cursor: str | None = None
    async with aiohttp.ClientSession() as http:
        print("ready", flush=True)
        while not stop.is_set():
            params = {} if cursor is None else {"cursor": cursor}
            t = time.perf_counter()
            async with http.get(admin + "/usage", params=params) as r:
                body = await r.read()
            ms = (time.perf_counter() - t) * 1000
            (first if cursor is None else latencies).append(ms)
            found = _NEXT.search(body)  # the header's, before any customer
            cursor = found.group(2).decode() if found is not None and found.group(2) else None
    print(json.dumps({"first_page_ms": first, "page_ms": latencies}), flush=True)


# -- the stack --------------------------------------------------------------------------------

def _exe(checkout: Path | None) -> list[str]:
    if checkout is None:
        script = Path(sys.executable).parent / "lava-sidecar"
        return [str(script)] if script.exists() else [sys.executable, "-m", "proxy"]
    return [str(checkout.resolve() / ".venv" / "bin" / "lava-sidecar")]


class Stack:
    """Gateway child and ``serve``, started in ``work``; ``stop`` by PID."""

    def __init__(self, work: Path, exe: list[str], config: str) -> None:
        self.key = "aks_test_bench" + secrets.token_hex(12)  # a throwaway key, environment only
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LAVA_")}
        self.env["LAVA_SECRET_KEY"] = self.key
        gw_port = free_port()
        self.gateway = spawn("gateway", [sys.executable, "-m", "bench.billing_data",
                                         "--serve-gateway", str(gw_port)],
                             log_path=work / "gateway.log", env=self.env,
                             cwd=Path(__file__).resolve().parents[1])
        self.sidecar: Proc | None = None
        try:
            wait_ready(self.gateway, lambda: http_get_status(gw_port, "/healthz") == 200, 60)
            self.port, self.admin = free_port(), free_port()
            path = work / "sidecar.yaml"
            path.write_text(f"listen: 127.0.0.1:{self.port}\nadmin_listen: 127.0.0.1:{self.admin}\n"
                            f"gateway: {{client: lean}}\nlogging: {{level: warning, format: json}}\n"
                            + config)
            self.env["LAVA_GATEWAY_URL"] = f"http://127.0.0.1:{gw_port}"
            self.sidecar = spawn("sidecar", [*exe, "serve", "--config", str(path)],
                                 log_path=work / "sidecar.log", env=self.env)
            wait_ready(self.sidecar, lambda: http_get_status(self.admin, "/readyz") == 200, 120)
        except BaseException:
            self.stop()
            raise

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}{path}", timeout=120) as r:
            body: bytes = r.read()
            return body

    def gauge(self, name: str) -> float | None:
        for line in self.get("/metrics").decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    @property
    def pid(self) -> int:
        assert self.sidecar is not None
        return self.sidecar.pid

    def stop(self) -> None:
        if self.sidecar is not None:
            self.sidecar.stop()
        self.gateway.stop()


def _until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


# -- prices -----------------------------------------------------------------------------------

def _h2load(stack: Stack, meter: str, args: argparse.Namespace, work: Path) -> dict[str, float]:
    body, log = work / "body.json", work / "h2load.tsv"
    body.write_bytes(payloads.request_body(stream=False))
    log.unlink(missing_ok=True)
    argv = ["h2load", "--h1", "-n", str(args.requests), "-c", str(args.clients), "-t", "1",
            "-d", str(body), f"--log-file={log}", "-H", "Content-Type: application/json",
            "-H", "X-Lava-Customer-Id: cus_bench", "-H", f"X-Lava-Meter: {meter}",
            f"http://127.0.0.1:{stack.port}{CHAT}"]
    cpu0 = procfs.cpu_seconds([stack.pid])
    started = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600,
                   check=False)
    wall = time.monotonic() - started
    cpu = procfs.cpu_seconds([stack.pid]) - cpu0
    lat = [int(p[2]) / 1000 for p in (ln.split("\t") for ln in log.read_text().splitlines())
           if len(p) >= 3 and p[1] == "200"]
    return {"rps": len(lat) / wall, "p99_ms": percentile(lat, 99) or 0.0,
            "cpu_us": cpu / max(len(lat), 1) * 1e6, "errors": args.requests - len(lat)}


def _line_sizes(path: Path) -> dict[str, dict[str, int]]:
    sizes: dict[str, list[int]] = {}
    for name in sorted(path.parent.glob(path.name + "*")):
        with name.open("rb") as f:
            for line in f:
                found = re.search(rb'"meter":"([^"]*)"', line[:600])
                sizes.setdefault(found.group(1).decode() if found else "?", []).append(len(line))
    return {m: {"lines": len(v), "median_bytes": int(statistics.median(v)), "max_bytes": max(v)}
            for m, v in sizes.items()}


def prices(args: argparse.Namespace, name: str, exe: list[str], work: Path) -> dict[str, Any]:
    log = work / "usage.jsonl"
    stack = Stack(work, exe, f"usage_log: {{path: '{log}', max_bytes: 16777216, backups: 1}}\n"
                             "pricing: {from_lava: true}\n")
    try:
        _until(lambda: (stack.gauge("lava_sidecar_price_catalog_age_seconds") or 1e9) < 1e9, 60,
               "a price listing")
        rounds: dict[str, list[dict[str, float]]] = {m: [] for m in METERS}
        for r in range(args.rounds):
            order = METERS[r % len(METERS):] + METERS[:r % len(METERS)]
            for meter in order:
                res = _h2load(stack, meter, args, work)
                rounds[meter].append(res)
                print(f"  {name} round {r + 1} {meter}: {res['rps']:.0f} req/s, p99 "
                      f"{res['p99_ms']:.1f} ms, {res['cpu_us']:.0f} us CPU/request, "
                      f"{res['errors']:.0f} errors", file=sys.stderr)
        priced = stack.gauge("lava_sidecar_price_catalog_meters")
        usage_status = http_get_status(stack.admin, "/usage")
    finally:
        stack.stop()
    out: dict[str, Any] = {"meters_priced": priced, "usage_status": usage_status,
                           "line_sizes": _line_sizes(log)}
    for meter, rs in rounds.items():
        out[meter] = {k: round(statistics.median(r[k] for r in rs), 1)
                      for k in ("rps", "p99_ms", "cpu_us")}
    good = out["chat"]["rps"] or 1
    out["ratio_to_good"] = {m: round(out[m]["rps"] / good, 3) for m in METERS[1:]}
    return out


# -- customers --------------------------------------------------------------------------------

def write_log(path: Path, customers: int) -> None:
    from proxy.record import RequestRecord
    from proxy.usage.base import Api, Usage
    from proxy.usagelog import encode_line

    now = time.time() - 3600
    with path.open("wb") as f:
        for i in range(customers):
            f.write(encode_line(RequestRecord(
                request_id=f"sc_{i:07d}", lava_request_id=None, started_at=now + i / 1000,
                customer_id=f"cus_{i:07d}", meter_slug="chat", identity_via="header",
                provider="openai", api=Api.CHAT, model="gpt-4o-mini", status=200, stream=False,
                usage=Usage(input_tokens=12, output_tokens=5, source="provider"), partial=False,
                outcome="ok", duration=0.01, ttfb=0.005, overhead=0.0003), None))


def _knows_cap(exe: list[str], work: Path) -> bool:
    probe = work / "probe.yaml"
    probe.write_text("usage_totals: {max_customers: 10}\n")
    env = {**os.environ, "LAVA_SECRET_KEY": "aks_test_probe" + "0" * 24}
    return subprocess.run([*exe, "check-config", "--config", str(probe)], env=env, timeout=60,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


async def _probe(port: int, n: int) -> list[float]:
    import aiohttp

    body = payloads.request_body(stream=False)
    headers = {"Content-Type": "application/json", "X-Lava-Customer-Id": "cus_probe",
               "X-Lava-Meter": "chat"}
    out = []
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            t = time.perf_counter()
            async with http.post(f"http://127.0.0.1:{port}{CHAT}", data=body, headers=headers) as r:
                await r.read()
            out.append((time.perf_counter() - t) * 1000)
    return out


def _replayed(stack: Stack, n: int) -> None:
    def done() -> bool:
        doc = json.loads(stack.get("/usage?customer=none"))
        return doc.get("replay") in ("done", "off") and doc.get("records", 0) >= n
    _until(done, 600, "the replay")


def customers(args: argparse.Namespace, name: str, exe: list[str], work: Path,
              log: Path) -> dict[str, Any]:
    cap = f"usage_totals: {{max_customers: {args.cap}}}\n" if args.cap and _knows_cap(exe, work) else ""
    rss: dict[str, int] = {}
    for phase, source in (("empty", None), ("full", log)):
        d = work / phase
        d.mkdir()
        if source is not None:
            os.link(source, d / "usage.jsonl")
        stack = Stack(d, exe, f"usage_log: {{path: '{d / 'usage.jsonl'}', max_bytes: 1073741824, "
                              "backups: 1}\npricing: {from_lava: false}\n"
                              # Priced, as in production: each customer also has a tier position.
                              "meters: [{slug: chat, tiers: [{start: 0, rate: '3.00'}]}]\n" + cap)
        try:
            if source is None:
                rss[phase] = procfs.rss_bytes([stack.pid])
                continue
            started = time.monotonic()
            _replayed(stack, args.customers)
            replay_s = time.monotonic() - started
            rss[phase] = procfs.rss_bytes([stack.pid])
            asyncio.run(_probe(stack.port, 50))
            before = asyncio.run(_probe(stack.port, args.probes))
            reader = spawn("reader", [sys.executable, "-m", "bench.billing_data", "--read-usage",
                                      f"http://127.0.0.1:{stack.admin}"],
                           log_path=d / "reader.log", stdout_pipe=True,
                           cwd=Path(__file__).resolve().parents[1])
            assert reader.popen.stdout is not None
            if reader.popen.stdout.readline() != b"ready\n":
                raise RuntimeError(reader.tail())
            time.sleep(0.3)
            during = asyncio.run(_probe(stack.port, args.probes))
            reader.popen.send_signal(signal.SIGTERM)
            read = json.loads(reader.popen.stdout.read() or b"{}")
            reader.stop()
        finally:
            stack.stop()
    kept = min(args.customers, args.cap) if cap else args.customers
    first, pages = read.get("first_page_ms", []), read.get("page_ms", [])

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {
        "cap": args.cap if cap else None, "customers_kept": kept, "replay_s": round(replay_s, 1),
        "rss_mib_empty": round(rss["empty"] / 2**20, 1), "rss_mib_full": round(rss["full"] / 2**20, 1),
        "rss_bytes_per_kept_customer": round((rss["full"] - rss["empty"]) / kept),
        "usage_first_page_ms": {"n": len(first), "p50": ms(percentile(first, 50)),
                                "max": ms(max(first, default=None))},
        "usage_page_ms": {"n": len(pages), "p50": ms(percentile(pages, 50)),
                          "max": ms(max(pages, default=None))},
        "probe_before_ms": {"p50": ms(percentile(before, 50)), "p99": ms(percentile(before, 99)),
                            "max": ms(max(before))},
        "probe_during_ms": {"p50": ms(percentile(during, 50)), "p99": ms(percentile(during, 99)),
                            "max": ms(max(during))},
    }


# -- steps ------------------------------------------------------------------------------------

async def _steps(customers: int, reads: int) -> dict[str, Any]:
    from decimal import Decimal

    from proxy.metering import MeterViews, Totals, UsageQuery, usage_body
    from proxy.metering.usagepage import decode_cursor
    from proxy.record import RequestRecord
    from proxy.usage.base import Api, Usage

    def record(cid: str, meter: str) -> RequestRecord:
        return RequestRecord(request_id="sc_x", lava_request_id=None, started_at=time.time(),
                             customer_id=cid, meter_slug=meter, identity_via="header",
                             provider="openai", api=Api.CHAT, model="m", status=200, stream=False,
                             usage=Usage(input_tokens=12, output_tokens=5, source="provider"),
                             partial=False, outcome="ok", duration=0.01, ttfb=None, overhead=None)

    totals = Totals(max_customers=max(customers, 1))
    for i in range(customers):
        totals.add(record(f"cus_{i:07d}", f"m{i % 3}"), Decimal("0.0001"))
    views = MeterViews(totals)
    steps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.thread_time()
        while not done:
            await asyncio.sleep(0)
            now = time.thread_time()
            steps.append((now - last) * 1000)
            last = now

    task = asyncio.create_task(ticker())
    after: int | None = None
    started = time.thread_time()
    for n in range(reads):
        body = await usage_body(totals, views, UsageQuery(after=after))
        found = _NEXT.search(body)
        after = decode_cursor(found.group(2).decode(), totals.run) if found and found.group(2) else None
        totals.add(record(f"new{n}", "m0"), Decimal("0.1"))
        await asyncio.sleep(0)
    cpu = time.thread_time() - started
    done = True
    await task
    return {"customers": customers, "reads": reads, "walks": totals.walks,
            "cpu_ms_per_read": round(cpu / reads * 1000, 3),
            "step_cpu_ms": {"p50": round(percentile(steps, 50) or 0, 3),
                            "p99": round(percentile(steps, 99) or 0, 3),
                            "max": round(max(steps), 3)}}


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.serve_gateway is not None:
        asyncio.run(_serve_gateway(args.serve_gateway))
        return 0
    if args.read_usage is not None:
        asyncio.run(_read_usage(args.read_usage))
        return 0
    report: dict[str, Any] = {}
    if args.what == "steps":
        report["this"] = asyncio.run(_steps(args.customers, args.reads))
        print(json.dumps({"what": "steps", "results": report}, indent=2))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-billing-") as tmp:
        work = Path(tmp)
        log = work / "history.jsonl"
        if args.what == "customers":
            write_log(log, args.customers)
        for name, checkout in [("this", None), *((b.name, b) for b in args.base)]:
            d = work / name
            d.mkdir()
            if args.what == "prices":
                report[name] = prices(args, name, _exe(checkout), d)
            else:
                report[name] = customers(args, name, _exe(checkout), d, log)
            print(f"{name}: {json.dumps(report[name])}", file=sys.stderr)
    print(json.dumps({"what": args.what, "results": report}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
