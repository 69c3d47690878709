"""``python -m bench.reload_probe``: what a config reload costs the requests being served (issue 24),
for a good file and for hostile ones, on a real ``lava-sidecar serve``.

A real stack on loopback (``bench.sidecar_stack``). A steady probe of ordinary chat requests runs
throughout (``--conns`` keep-alive connections, one request at a time each, ``--gap`` seconds
apart). First ``--window`` seconds with nothing else ("before"); then, for each kind, the config
file is replaced (by rename, as a ConfigMap update does) and the sidecar gets SIGHUP; the
``--window`` seconds from the signal are "during". Kinds: ``ok`` (the same valid file),
``alias-bomb`` (a ~600-byte YAML "billion laughs": nine levels of nine aliases, the last one where
a string belongs, so an error that quotes it would expand 9^9 items), ``8mb`` (a valid config with
8 MB of metadata entries), ``1mb-valid`` (quotas for ~15,000 customers, valid and just under
the 1 MiB cap: the most a reload can have to parse and validate). After each, the good file is
put back. Prints, per phase, the probe's
p50/p99/max latency and the requests that failed, the sidecar's RSS, the reload's log lines (how
many bytes, the longest) and the reload counters.

    python -m bench.reload_probe                                 # this checkout, ~40 s
    python -m bench.reload_probe --base /work/main --kinds ok,8mb   # also another checkout
    (never run ``alias-bomb`` against a build without the bound: it takes GBs of memory and log)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .sidecar_stack import KeepAliveClient, Stack, exe_for, rss_mb, start_stack
from .stats import percentile

KINDS = ("ok", "alias-bomb", "8mb", "1mb-valid")


def alias_bomb() -> str:
    """Nine levels of nine aliases ("billion laughs"), the last used as ``logging.level``."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\nlogging: {level: *a8}\n"


def valid_near_cap(good: str, size: int = 1_000_000) -> str:
    """The good config and quotas for ~15,000 customers: valid, just under the 1 MiB cap, so the
    whole of it is parsed and validated (~0.75 s of Python in the reload's worker thread)."""
    lines = [good.rstrip("\n"), "quotas:", "  default: {requests_per_minute: 100000}", "  customers:"]
    total, i = sum(len(x) + 1 for x in lines), 0
    while total < size:
        lines.append(f"    cus_{i:07d}: {{requests_per_minute: {i % 500 + 100000}, usd_per_day: '500.00'}}")
        total += len(lines[-1]) + 1
        i += 1
    return "\n".join(lines) + "\n"


def big_file(good: str, size: int = 8 * 1024 * 1024) -> str:
    """The good config and ``size`` bytes of metadata entries: valid YAML, absurd for a config."""
    entry = 'm{:07d}: "{}"\n'
    n = size // len(entry.format(0, "v" * 64))
    body = "".join("    " + entry.format(i, "v" * 64) for i in range(n))
    return good + "metadata:\n  static:\n" + body


@dataclass
class Probe:
    conns: int
    gap: float
    #: (start time, seconds, status) of every request.
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, port: int) -> None:
        await asyncio.gather(*(self._one(port) for _ in range(self.conns)))

    async def _one(self, port: int) -> None:
        client = await KeepAliveClient.open(port)
        try:
            while not self.stop.is_set():
                t0 = time.monotonic()
                try:
                    status, took = await client.call()
                except (ConnectionError, asyncio.IncompleteReadError):
                    status, took = 0, time.monotonic() - t0
                    client.close()
                    client = await KeepAliveClient.open(port)
                self.samples.append((t0, took, status))
                await asyncio.sleep(self.gap)
        finally:
            client.close()

    async def past(self, moment: float, within: float = 120.0) -> None:
        """Until a request that started after ``moment`` has finished (the sidecar answers again)."""
        async with asyncio.timeout(within):
            while True:
                if self.samples and self.samples[-1][0] >= moment:
                    return
                await asyncio.sleep(0.05)

    def window(self, start: float, end: float) -> dict[str, float]:
        """Figures of the requests in flight at any moment of [start, end): a request the loop
        held up across the whole window counts, with its whole latency."""
        inside = [(took, status) for t0, took, status in self.samples if t0 < end and t0 + took >= start]
        lat = [took * 1000 for took, _ in inside]
        failed = sum(1 for _, status in inside if status != 200)
        return {"requests": len(lat), "failed": failed,
                "p50_ms": round(percentile(lat, 50) or 0, 2),
                "p99_ms": round(percentile(lat, 99) or 0, 2), "max_ms": round(max(lat, default=0), 2)}


def reloads(admin: int) -> dict[str, float]:
    """The reload counters (empty when /metrics did not answer within a minute)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=60) as r:
            text = r.read().decode()
    except OSError:
        return {}
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^lava_sidecar_config_reloads_total\{result="(\w+)"\} (\S+)$', text, re.M)}


def replace_file(path: Path, text: str) -> None:
    tmp = path.with_name(".next.yaml")
    tmp.write_text(text)
    os.replace(tmp, path)


async def _phases(stack: Stack, kinds: list[str], window: float, probe: Probe) -> dict[str, object]:
    pid, good = stack.sidecar.pid, stack.config.read_text()
    # Built before the probe's figures count, and written from a thread: the probe's own loop
    # must not stall, or its stall would read as the sidecar's.
    texts = {"ok": good, "alias-bomb": alias_bomb(), "8mb": big_file(good) if "8mb" in kinds else "",
             "1mb-valid": valid_near_cap(good)}
    await asyncio.sleep(window)
    out: dict[str, object] = {"before": {**probe.window(0, time.monotonic()), "rss_mb": round(rss_mb(pid))}}
    for kind in kinds:
        text = texts[kind]
        log_at, rss0 = stack.log.stat().st_size, rss_mb(pid)
        await asyncio.to_thread(replace_file, stack.config, text)
        sent = time.monotonic()
        os.kill(pid, signal.SIGHUP)
        await asyncio.sleep(window)
        await probe.past(sent + window)  # a request held up across the window counts, once done
        with stack.log.open("rb") as f:
            f.seek(log_at)
            lines = [line for line in f.read().splitlines() if b"reload" in line or b"config" in line]
        out[kind] = {"file_bytes": len(text.encode()), **probe.window(sent, sent + window),
                     "rss_mb_before": round(rss0), "rss_mb_after": round(rss_mb(pid)),
                     "log_lines": len(lines), "log_bytes": sum(len(x) + 1 for x in lines),
                     "longest_log_line": max((len(x) for x in lines), default=0),
                     "reloads": await asyncio.to_thread(reloads, stack.admin)}
        await asyncio.to_thread(replace_file, stack.config, good)  # reloaded (file changed): settle
        await asyncio.sleep(3.0)
    return out


async def _measure(stack: Stack, kinds: list[str], window: float, conns: int,
                   gap: float) -> dict[str, object]:
    probe = Probe(conns, gap)
    task = asyncio.ensure_future(probe.run(stack.port))
    try:
        return await _phases(stack, kinds, window, probe)
    finally:
        probe.stop.set()
        await task


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.reload_probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, action="append", default=[],
                   help="another checkout to measure too (uses DIR/.venv/bin/lava-sidecar)")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    p.add_argument("--window", type=float, default=5.0, help="seconds per phase (default 5)")
    p.add_argument("--conns", type=int, default=2, help="probe connections (default 2)")
    p.add_argument("--gap", type=float, default=0.01, help="seconds between one connection's requests")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    if unknown := set(kinds) - set(KINDS):
        raise SystemExit(f"unknown kinds: {', '.join(sorted(unknown))}")
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-reload-") as tmp:
        for name, checkout in [("this", None), *((b.name, b) for b in args.base)]:
            stack = start_stack(Path(tmp), name, exe_for(checkout), "logging: {level: info, format: json}\n")
            try:
                result = asyncio.run(_measure(stack, kinds, args.window, args.conns, args.gap))
            finally:
                stack.stop()
            for phase, figures in result.items():
                print(f"{name} {phase}: {json.dumps(figures)}", file=sys.stderr)
            report[name] = result
    print(json.dumps({"window_seconds": args.window, "conns": args.conns, "gap_seconds": args.gap,
                      "results": report}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
