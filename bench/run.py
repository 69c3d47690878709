"""``python -m bench.run``: start the fake upstream and every target, measure them interleaved, report.

Writes ``results.json`` (every figure, every round, vmstat steal), ``results.md`` (the tables) and
``results.png`` (latency and CPU per request) under ``--out``. Exit status 1 if any target failed
to start or any request through direct, nginx or the sidecar failed: errors must be zero. LiteLLM's
failures are reported, not fatal: they are findings about a peer. ``--smoke`` is a few hundred
requests that only proves the harness works; it asserts no speed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from . import chart, litellm, procfs, report, targets
from .measure import Plan, Runner
from .processes import Proc, StartupError, read_ready_port, spawn
from .targets import Target
from .vmstat import VmstatLog

SCHEMA = 1


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="a few hundred requests: proves the harness works")
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="directory for the results")
    p.add_argument("--sidecar-client", default="lean,aiohttp",
                   help="gateway.client values to bench, one sidecar target each (default lean,aiohttp)")
    p.add_argument("--base", type=Path, action="append", default=[], metavar="DIR",
                   help="also bench another checkout's sidecar (DIR/.venv/bin/lava-sidecar, lean "
                        "client) as target sidecar-DIRNAME: before and after in one interleaved run")
    p.add_argument("--no-nginx", action="store_true", help="leave nginx out")
    p.add_argument("--no-floor", action="store_true",
                   help="leave python-floor out (bench/floor.py: the cheapest proxy Python can be)")
    p.add_argument("--no-traced", action="store_true",
                   help="leave out sidecar-traced (the lean sidecar with tracing on, to a loopback sink)")
    p.add_argument("--no-quotas", action="store_true",
                   help="leave out sidecar-priced, sidecar-quota-memory and sidecar-quota-redis (the "
                        "lean sidecar with the meter priced, then with all four quota limits on too; "
                        "the Redis one starts its own redis-server)")
    p.add_argument("--with-litellm", action="store_true",
                   help="bench LiteLLM too, installing it into .bench/litellm-venv if missing (~2 min)")
    p.add_argument("--litellm-workers", type=int, default=1)
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 3; smoke 1)")
    p.add_argument("--requests", type=int, help="requests per round at c=32 (default 20000; smoke 200)")
    p.add_argument("--hold", type=int, help="streams held open in the memory phase (default 1000; smoke 50)")
    p.add_argument("--startup-repeats", type=int,
                   help="extra start/stop cycles for the start-up figure; the first is a discarded "
                        "warm-up (cold bytecode and page cache) (default 3; smoke 0)")
    return p.parse_args(argv)


def _log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def _machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")

    def version(argv: list[str]) -> str:
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return "absent"
        return (res.stdout + res.stderr).strip().splitlines()[0] if (res.stdout + res.stderr).strip() else ""

    repo = Path(__file__).resolve().parents[1]
    commit = version(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"])
    # The sidecar runs from the working tree: say whether proxy/ differed from that commit.
    dirty = version(["git", "-C", str(repo), "status", "--porcelain", "--", "proxy"])
    return {"commit": commit, "proxy_uncommitted_changes": dirty not in ("", "absent"),
            "cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "python": platform.python_version(), "h2load": version(["h2load", "--version"]),
            "nginx": version(["nginx", "-v"])}


def _commit(checkout: Path) -> str:
    res = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, timeout=10, check=False)
    return res.stdout.strip()


def _raise_nofile() -> None:
    """1,000 held streams need ~3,000 descriptors across client, proxy and fake; children inherit this."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _start_upstream(workdir: Path, plan: Plan) -> tuple[Proc, int]:
    hold_s = plan.hold_timeout * 3 + 60
    proc = spawn("upstream", [sys.executable, "-m", "bench.upstream", "--port", "0",
                              "--interval", str(plan.interval), "--hold-interval", "1.0",
                              "--hold-chunks", str(int(hold_s)), "--max-seconds", "7200"],
                 log_path=workdir / "upstream.log", stdout_pipe=True,
                 cwd=Path(__file__).resolve().parents[1])
    return proc, read_ready_port(proc, timeout=15)


def _upstream_stats(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__stats", timeout=5) as r:
            doc = json.loads(r.read())
            return doc if isinstance(doc, dict) else {}
    except OSError:
        return {}


def _rss_mb(t: Target) -> float:
    return round(procfs.rss_bytes(t.pids()) / 2**20, 1)


def _startup_samples(start: Any, repeats: int) -> list[float]:
    """Start-up is one sample per start: take a few, stopping each (the main instance adds one more).
    The first start only warms bytecode and page caches, as a built image has them: not counted."""
    out = []
    for i in range(repeats):
        t: Target = start()
        if t.startup_s is not None and i > 0:
            out.append(t.startup_s)
        t.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    plan = Plan.smoke() if a.smoke else Plan.full()
    plan = replace(plan, rounds=a.rounds or plan.rounds, n_load=a.requests or plan.n_load,
                   hold=a.hold if a.hold is not None else plan.hold)
    repeats = a.startup_repeats if a.startup_repeats is not None else (0 if a.smoke else 3)
    if shutil.which("h2load") is None:
        _log("h2load is missing (apt-get install nghttp2-client)")
        return 2
    _raise_nofile()
    a.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="lava-bench-"))
    vm = VmstatLog()
    live: list[Target] = []
    helpers: list[Proc] = []  # servers a target needs (redis-server), stopped after the targets
    facts: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    upstream: Proc | None = None
    started = time.time()
    raw_rounds: list[dict[str, Any]] = []
    upstream_stats: dict[str, Any] = {}
    try:
        vm.start()
        upstream, up_port = _start_upstream(workdir, plan)
        _log(f"fake upstream on 127.0.0.1:{up_port} (pid {upstream.pid}); work dir {workdir}")
        starters: list[tuple[str, Any]] = [("direct", lambda: targets.direct(up_port))]
        if not a.no_nginx:
            if shutil.which("nginx"):
                starters.append(("nginx", lambda: targets.nginx(workdir, up_port)))
            else:
                failed["nginx"] = "nginx is not installed (apt-get install nginx), or pass --no-nginx"
        if not a.no_floor:
            starters.append(("python-floor", lambda: targets.floor(workdir, up_port)))
        for client in [c.strip() for c in a.sidecar_client.split(",") if c.strip()]:
            starters.append((f"sidecar-{client}",
                             lambda c=client: targets.sidecar(workdir, up_port, c)))
        if not a.no_traced:
            starters.append(("sidecar-traced", lambda: targets.sidecar_traced(workdir, up_port)))
        for base in a.base:
            exe, name = base.resolve() / ".venv" / "bin" / "lava-sidecar", f"sidecar-{base.resolve().name}"
            starters.append((name, lambda exe=exe, name=name, base=base: targets.sidecar(
                workdir, up_port, "lean", name=name, argv=[str(exe)],
                info={"checkout": str(base.resolve()), "commit": _commit(base)})))
        if not a.no_quotas:
            starters.append(("sidecar-priced", lambda: targets.sidecar_priced(workdir, up_port)))
            starters.append(("sidecar-quota-memory",
                             lambda: targets.sidecar_quota(workdir, up_port, "memory")))
            if shutil.which("redis-server"):
                try:
                    redis, redis_url = targets.redis_server(workdir)
                    helpers.append(redis)
                    starters.append(("sidecar-quota-redis", lambda: targets.sidecar_quota(
                        workdir, up_port, "redis", redis_url)))
                except StartupError as exc:
                    failed["sidecar-quota-redis"] = f"redis-server did not start: {exc}"
            else:
                failed["sidecar-quota-redis"] = ("redis-server is not installed (apt-get install "
                                                 "redis-server), or pass --no-quotas")
        if a.with_litellm:
            if not litellm.installed():
                try:
                    litellm.install(workdir / "litellm-install.log")
                except (StartupError, subprocess.TimeoutExpired) as exc:
                    failed["litellm"] = str(exc)
            if litellm.installed():
                starters.append(("litellm",
                                 lambda: litellm.start(workdir, up_port, workers=a.litellm_workers)))
        for name, start in starters:
            try:
                extra = _startup_samples(start, repeats) if name.startswith(("sidecar", "nginx")) else []
                t = start()
            except StartupError as exc:
                failed[name] = str(exc)
                _log(f"{name} failed to start: {exc}")
                continue
            live.append(t)
            samples = [*extra, *([t.startup_s] if t.startup_s is not None else [])]
            facts[name] = {"kind": t.kind, "info": t.info, "other_errors": 0,
                           "startup_samples_s": [round(s, 3) for s in samples],
                           "startup_s": round(sorted(samples)[len(samples) // 2], 3) if samples else None,
                           "rss_start_mb": _rss_mb(t) if t.is_proxy else None}
            _log(f"{name} ready on 127.0.0.1:{t.port}" + (f" in {t.startup_s:.3f} s" if t.startup_s else ""))
        runner = Runner(plan, upstream.pids(), vm)
        for t in live:
            facts[t.name]["other_errors"] += runner.warmup(t)
        time.sleep(1.0)
        for t in live:
            if t.is_proxy:
                facts[t.name]["rss_idle_mb"] = _rss_mb(t)
        raw_rounds = runner.rounds(live, _log)
        for t in live:
            if not t.is_proxy:
                continue
            mem = runner.memory(t)
            _log(f"memory  {t.name:16} {mem}")
            facts[t.name].update(memory=mem, rss_streams_mb=mem["rss_streams_mb"],
                                 streams_held=mem["opened"], rss_after_mb=mem["rss_after_mb"])
            facts[t.name]["other_errors"] += mem["errors"]
            if t.kind == "sidecar":
                t.info["metrics_bytes"] = targets.sidecar_metrics_size(t)
        upstream_stats = _upstream_stats(up_port)
    except KeyboardInterrupt:
        failed["run"] = "interrupted"
    finally:
        for t in live:
            t.stop()
        for h in helpers:
            h.stop()
        if upstream is not None:
            upstream.stop()
        vm.stop()
    for t in live:
        if t.kind == "sidecar":
            targets.sidecar_after_stop(t)
    shutil.rmtree(workdir, ignore_errors=True)

    summary = report.summarize(raw_rounds, facts) if raw_rounds else {}
    rat = report.ratios(summary)
    gl = report.goals(summary, rat, plan.hold)
    errors = sum(int(s["errors"]) for s in summary.values() if s["kind"] != "litellm")
    mode = "smoke" if a.smoke else "full"
    steal = vm.summary()["steal_mean_pct"]
    machine = _machine()
    doc = {"schema": SCHEMA, "mode": mode, "started_at": started,
           "duration_s": round(time.time() - started, 1),
           "command": ["python", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)],
           "machine": machine, "plan": asdict(plan), "targets": summary, "ratios": rat, "goals": gl,
           "failed": failed, "errors_total": errors, "upstream": upstream_stats, "rounds": raw_rounds,
           "memory": {n: f.get("memory") for n, f in facts.items()},
           "startup_samples_s": {n: f.get("startup_samples_s") for n, f in facts.items()},
           "vmstat": vm.summary()}
    (a.out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    text = report.table(summary, rat, gl) if summary else "no results\n"
    (a.out / "results.md").write_text(text)
    title = f"lava-sidecar benchmark ({mode}), {machine['cpus']} CPUs, vmstat steal mean {steal} %"
    why = chart.draw(summary, a.out / "results.png", title) if summary else "no results"
    print(text)
    _log(f"wrote {a.out / 'results.json'}, results.md" + (f"; no chart: {why}" if why else ", results.png"))
    for name, reason in failed.items():
        _log(f"FAILED {name}: {reason.splitlines()[0] if reason else ''}")
    if errors:
        _log(f"{errors} errors (must be zero)")
    if peer_errors := sum(int(s["errors"]) for s in summary.values() if s["kind"] == "litellm"):
        _log(f"LiteLLM: {peer_errors} errors (a finding about the peer; see results.json memory)")
    return 1 if set(failed) - {"litellm"} or errors else 0


if __name__ == "__main__":
    sys.exit(main())
