"""``python -m soak``: the local Lava gateway in this process, ``lava-sidecar serve`` (via
``soak.child``) as a subprocess, a warm-up, the measured run, then the reconciliation and the
leak check (file descriptors, resident memory, pending tasks against the post-warm-up baseline).

Prints the figures; exits 0 only with zero lost, duplicated and misattributed records, the four
token accounts equal per customer, no growth, and a clean exit of the sidecar.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
import yaml

from proxy.config import Gateway
from proxy.emulator.server import running_gateway
from proxy.emulator.state import Seen
from proxy.emulator.writer import Limits
from proxy.usagelog import read_lines

from .drive import Sent, drive
from .killphase import KILL_WITHIN, MARGIN, KillReport, kill_phase
from .killphase import figures as kill_figures
from .reconcile import TYPES, Report, Served, reconcile
from .workload import LOCAL_KEY, METER, plan

SECRET = "aks_test_soak00000000000000000000"  # noqa: S105 - a test key for the local gateway
KEEPALIVE_EXPIRY = 1.0
#: The sidecar's first-byte and idle timeouts. The stall faults last longer (``workload.STALL``); the
#: margin keeps a loaded machine's hiccup from timing out a request that was not meant to.
STALL_LIMIT = 1.0
#: The quota phase: one customer limited in requests, one in concurrency, refused all through the
#: run (every refusal must be one line and never reach the gateway; the others are untouched).
QUOTAS: Final = {"customers": {"cus_soak_f": {"requests_per_minute": 120},
                               "cus_soak_d": {"concurrent_requests": 3}}}


@dataclass(frozen=True)
class Options:
    requests: int
    warmup: int
    concurrency: int
    client: str
    out: Path
    max_rss_growth_mb: float
    #: Requests in the SIGKILL phase (0: skip it).
    kill_requests: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(opts: Options, gateway_url: str, *, quotas: bool = True) -> tuple[Path, int, int]:
    port, admin = free_port(), free_port()
    cfg = {
        "listen": f"127.0.0.1:{port}", "admin_listen": f"127.0.0.1:{admin}",
        "gateway": {"url": gateway_url, "client": opts.client, "connect_timeout_seconds": 2,
                    "first_byte_timeout_seconds": STALL_LIMIT, "idle_timeout_seconds": STALL_LIMIT,
                    "keepalive_expiry_seconds": KEEPALIVE_EXPIRY},
        "identity": {"api_keys": [{"key": {"env": "SOAK_LOCAL_KEY"}, "customer": "cus_soak_keyed",
                                   "meter": METER}]},
        # Small files: the run crosses several rotations, and every line must survive them.
        "usage_log": {"path": str(opts.out / "usage.jsonl"), "fsync_interval_seconds": 0.2,
                      "max_bytes": 4 << 20, "backups": 50, "replay_on_start": False},
        "shutdown": {"drain_delay_seconds": 0.2, "grace_seconds": 10},
        "logging": {"level": "warning", "format": "json"},
        "quotas": QUOTAS if quotas else {},
    }
    path = opts.out / "sidecar.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, port, admin


class Child:
    """The sidecar subprocess; stopped by its PID."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, admin: int) -> None:
        self.proc, self.url, self.admin = proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}"

    async def get(self, path: str) -> str:
        async with aiohttp.ClientSession() as http, http.get(self.admin + path) as resp:
            return await resp.text()

    async def usage(self) -> dict[str, Any]:
        """The /usage document with every page's customers (it is paginated)."""
        doc: dict[str, Any] = json.loads(await self.get("/usage?limit=1000"))
        cursor = doc.get("next_cursor")
        while cursor is not None:
            page = json.loads(await self.get(f"/usage?limit=1000&cursor={cursor}"))
            doc["customers"].update(page["customers"])
            cursor = page["next_cursor"]
        return doc

    async def probe(self) -> dict[str, int]:
        """Tasks, fds, RSS, reported by the child on SIGUSR1."""
        assert self.proc.stdout is not None
        self.proc.send_signal(signal.SIGUSR1)
        async with asyncio.timeout(10):
            line = await self.proc.stdout.readline()
        return dict(json.loads(line))

    async def quiesce(self) -> None:
        """No request in flight, and idle upstream connections expired (they hold descriptors)."""
        async with asyncio.timeout(60):
            while True:
                if "lava_sidecar_inflight_requests 0.0" in await self.get("/metrics"):
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(KEEPALIVE_EXPIRY * 2.5)


async def start_child(cfg: Path, port: int, admin: int, log: Path) -> Child:
    env = {**os.environ, "LAVA_SECRET_KEY": SECRET, "SOAK_LOCAL_KEY": LOCAL_KEY}
    env.pop("LAVA_GATEWAY_URL", None)
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "soak.child", "--config", str(cfg), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=err, stdin=asyncio.subprocess.DEVNULL)
    child = Child(proc, port, admin)
    async with asyncio.timeout(30):
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"the sidecar exited ({proc.returncode}); see {log}")
            try:
                if "ready" in await child.get("/readyz"):
                    return child
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


def served_of(seen: Seen) -> Served:
    tag = seen.header("x-soak-id")
    u = seen.reported
    tokens = {t: getattr(u, f"{t}_tokens") or 0 for t in TYPES}
    return Served(seen.request_id, int(tag) if tag and tag.isdigit() else None,
                  seen.token.customer_id if seen.token else None, seen.status != 0, tokens)


class Progress:
    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done, self.t0 = total, label, 0, time.monotonic()
        self.step = max(1000, total // 10)

    def __call__(self, n: int) -> None:
        self.done += n
        if self.done % 2000 == 0:
            # What the run has kept so far (the gateway's record of every request) is moved out of
            # the collector's reach: its full collections would otherwise grow with the run, and a
            # long one stalls the gateway sharing this process into spurious timeouts.
            gc.freeze()
        if self.done % self.step == 0 or self.done == self.total:
            rate = self.done / max(time.monotonic() - self.t0, 1e-9)
            print(f"  {self.label}: {self.done}/{self.total} requests ({rate:.0f}/s)", flush=True)


async def soak(opts: Options) -> tuple[Report, dict[str, Any]]:
    opts.out.mkdir(parents=True, exist_ok=True)
    for old in opts.out.glob("usage.jsonl*"):
        old.unlink()
    total = opts.warmup + opts.requests
    limits = Limits(seconds=30, bytes=64 << 20)
    async with running_gateway(SECRET, seen_limit=total + 10, limits=limits) as gw:
        cfg, port, admin = write_config(opts, gw.url)
        child = await start_child(cfg, port, admin, opts.out / "sidecar.log")
        try:
            warm = plan(opts.warmup, seed=1)
            sent: list[Sent] = await drive(child.url, warm, concurrency=opts.concurrency,
                                           progress=Progress(len(warm), "warm-up"))
            await child.quiesce()
            before = await child.probe()
            t0 = time.monotonic()
            jobs = plan(opts.requests, start=opts.warmup, seed=0)
            sent += await drive(child.url, jobs, concurrency=opts.concurrency,
                                progress=Progress(len(jobs), "soak"))
            elapsed = time.monotonic() - t0
            await child.quiesce()
            after = await child.probe()
            metrics_text, usage_doc = await child.get("/metrics"), await child.usage()
            child.proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                exit_code = await child.proc.wait()
        finally:
            if child.proc.returncode is None:
                child.proc.kill()
                await child.proc.wait()
        for seen in gw.seen:
            await seen.finished(within=30)
        served = [served_of(s) for s in gw.seen]
    records = [json.loads(line) for line in read_lines(str(opts.out / "usage.jsonl"), 50)]
    report = reconcile(sent, served, records, usage_doc, metrics_text)
    killed = await run_kill_phase(opts) if opts.kill_requests else None
    figures = {"elapsed_seconds": round(elapsed, 1), "rate_per_second": round(opts.requests / elapsed),
               "before": before, "after": after, "exit_code": exit_code,
               "gateway_requests": len(served), "client_errors": sum(1 for s in sent if s.error),
               "outcomes": _count(r["outcome"] for r in records),
               "partial": sum(1 for r in records if r["partial"])}
    if killed is not None:
        figures["kill_phase"] = {**kill_figures(killed), "problems": killed.problems}
    return report, figures


async def run_kill_phase(opts: Options) -> KillReport:
    """The SIGKILL phase (``soak.killphase``): its own gateway, sidecars and usage log under out/kill."""
    kopts = Options(opts.kill_requests, 0, opts.concurrency, opts.client, opts.out / "kill",
                    opts.max_rss_growth_mb)
    kopts.out.mkdir(parents=True, exist_ok=True)
    for old in kopts.out.glob("usage.jsonl*"):
        old.unlink()
    async with running_gateway(SECRET, seen_limit=opts.kill_requests + 10,
                               limits=Limits(seconds=30, bytes=64 << 20)) as gw:
        cfg, port, admin = write_config(kopts, gw.url, quotas=False)  # its own subject: kill -9

        async def seen() -> tuple[list[Served], dict[str, bool]]:
            for s in gw.seen:
                await s.finished(within=30)
            return [served_of(s) for s in gw.seen], {s.request_id: s.complete for s in gw.seen}

        return await kill_phase(opts.kill_requests, opts.concurrency, kopts.out / "usage.jsonl", 50,
                                lambda: start_child(cfg, port, admin, kopts.out / "sidecar.log"), seen)


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def verdict(report: Report, figures: dict[str, Any], opts: Options) -> list[str]:
    """Every reason the run fails (empty: it passed)."""
    failures = []
    if not report.ok:
        failures.append("records do not reconcile")
    before, after = figures["before"], figures["after"]
    if after["fds"] > before["fds"]:
        failures.append(f"file descriptors grew: {before['fds']} -> {after['fds']}")
    if after["tasks"] > before["tasks"]:
        failures.append(f"pending tasks grew: {before['tasks']} -> {after['tasks']}")
    growth_mb = (after["rss_kb"] - before["rss_kb"]) / 1024
    if growth_mb > opts.max_rss_growth_mb:
        failures.append(f"RSS grew {growth_mb:.1f} MB (limit {opts.max_rss_growth_mb} MB)")
    if report.late > max(3, report.requests // 1000):
        failures.append(f"{report.late} unplanned timeouts: the machine (or the sidecar) stalled "
                        f"past {STALL_LIMIT} s too often for the figures to mean much")
    if not report.rate_limited:
        failures.append("the quota phase refused nothing: the soak did not exercise quotas")
    if figures["exit_code"] != 0:
        failures.append(f"the sidecar exited with {figures['exit_code']}")
    killed = figures.get("kill_phase")
    if killed is not None and (killed["lost"] or killed["duplicated"] or killed["torn"]):
        failures.append(f"SIGKILL phase: {killed['lost']} lost, {killed['duplicated']} duplicated, "
                        f"{killed['torn']} torn lines")
    return failures


def print_figures(report: Report, figures: dict[str, Any]) -> None:
    b, a = figures["before"], figures["after"]
    print(f"requests {report.requests}  usage-log lines {report.records}  gateway requests "
          f"{figures['gateway_requests']}  ({figures['rate_per_second']}/s over "
          f"{figures['elapsed_seconds']} s)")
    print(f"outcomes {figures['outcomes']}  partial {figures['partial']}  refused by a quota "
          f"{report.rate_limited} (one line each, none at the gateway)")
    print(f"lost {report.lost}  duplicated {report.duplicated}  misattributed {report.misattributed}  "
          f"(client gone before its handler started, nothing sent: {report.not_started}; "
          f"unplanned timeouts: {report.late})")
    print(f"fds {b['fds']} -> {a['fds']}  tasks {b['tasks']} -> {a['tasks']}  "
          f"rss {b['rss_kb'] / 1024:.1f} MB -> {a['rss_kb'] / 1024:.1f} MB")
    print(f"{'customer':<16} {'source':<8} " + " ".join(f"{t:>11}" for t in TYPES))
    for customer, by_source in report.tokens.items():
        for source, counts in by_source.items():
            cells = " ".join(f"{counts[t]:>11}" for t in TYPES)
            print(f"{customer or '(merchant)':<16} {source:<8} {cells}")
    for line in report.mismatches + report.problems:
        print("  !", line)
    if (k := figures.get("kill_phase")) is not None:
        print(f"SIGKILL phase: {k['requests']} requests, kill -9 within {KILL_WITHIN * 1000:.0f} ms "
              f"of an answer, restart: {k['completed']} answered and {k['records']} lines; lost "
              f"{k['lost']}  duplicated {k['duplicated']}  torn {k['torn']}  (unfinished before "
              f"the kill: {k['cut_recorded']} with a line, {k['cut_unrecorded']} without; answered "
              f"< {MARGIN * 1000:.0f} ms before it: {k['racing_recorded']} with a line, "
              f"{k['racing_unrecorded']} without, the earliest of those "
              f"{k['earliest_unrecorded_ms']} ms before)")
        for line in k["problems"]:
            print("  !", line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a short run (CI): 2,000 requests")
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--warmup", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=96)
    parser.add_argument("--client", choices=("aiohttp", "lean"), default=Gateway().client,
                        help="gateway.client (default: the sidecar's own default)")
    parser.add_argument("--out", type=Path, default=Path("soak-results"))
    parser.add_argument("--max-rss-growth-mb", type=float, default=16.0)
    parser.add_argument("--kill-requests", type=int, default=4_000,
                        help="requests in the SIGKILL-and-restart phase (0: skip it)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests, args.warmup, args.concurrency = 2_000, 500, 32
        args.kill_requests = min(args.kill_requests, 800)
    opts = Options(args.requests, args.warmup, args.concurrency, args.client, args.out,
                   args.max_rss_growth_mb, args.kill_requests)
    print(f"soak: {opts.requests} requests after {opts.warmup} warm-up, {opts.concurrency} at a time, "
          f"gateway.client={opts.client}", flush=True)
    report, figures = asyncio.run(soak(opts))
    print_figures(report, figures)
    failures = verdict(report, figures, opts)
    (opts.out / "soak-report.json").write_text(json.dumps(
        {"ok": not failures, "failures": failures, "figures": figures, **asdict(report)}, indent=2))
    print("PASS" if not failures else "FAIL: " + "; ".join(failures))
    return 0 if not failures else 1
