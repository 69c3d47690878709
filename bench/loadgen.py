"""Fixed-count HTTP/1.1 load with h2load: requests/s, per-request latency, and the CPU it cost the target.

CPU is utime+stime of the target's process tree read before and after exactly ``n`` requests
(tooling.md §0): steal is not charged to a process, so the figure holds on a noisy shared VM.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import procfs

_FINISHED = re.compile(r"^finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s", re.M)


@dataclass(frozen=True, slots=True)
class LoadResult:
    n: int
    ok: int  # 2xx responses
    errors: int  # everything else: non-2xx, failed, timed out, never sent
    wall_s: float
    rps: float
    latencies_us: tuple[int, ...]  # 2xx requests only
    cpu_s: float  # the target's process tree
    upstream_cpu_s: float


def parse_finished(text: str) -> tuple[float, float]:
    """``finished in 473.48ms, 42240.08 req/s`` → (seconds, req/s); (0, 0) when absent."""
    m = _FINISHED.search(text)
    if m is None:
        return 0.0, 0.0
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]
    return float(m.group(1)) * scale, float(m.group(3))


def parse_log(text: str) -> tuple[int, tuple[int, ...]]:
    """h2load ``--log-file`` rows (start_us, status, elapsed_us) → (rows, 2xx latencies in us)."""
    rows, lat = 0, []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        rows += 1
        if parts[1].startswith("2") and len(parts[1]) == 3:
            lat.append(int(parts[2]))
    return rows, tuple(lat)


def h2load(url: str, *, n: int, c: int, body: bytes, headers: Sequence[tuple[str, str]],
           pids: Sequence[int], upstream_pids: Sequence[int], timeout: float) -> LoadResult:
    """``n`` POSTs at concurrency ``c`` over keep-alive connections, one client thread."""
    c = max(1, min(c, n))
    with tempfile.TemporaryDirectory(prefix="bench-h2load-") as tmp:
        body_path, log_path = Path(tmp) / "body.json", Path(tmp) / "requests.tsv"
        body_path.write_bytes(body)
        argv = ["h2load", "--h1", "-n", str(n), "-c", str(c), "-t", "1", "-d", str(body_path),
                "-H", "Content-Type: application/json", f"--log-file={log_path}"]
        for name, value in headers:
            argv += ["-H", f"{name}: {value}"]
        argv.append(url)
        cpu0, up0 = procfs.cpu_seconds(pids), procfs.cpu_seconds(upstream_pids)
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False).stdout
        except subprocess.TimeoutExpired as exc:  # bounded: whatever finished still counts
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        cpu1, up1 = procfs.cpu_seconds(pids), procfs.cpu_seconds(upstream_pids)
        log = log_path.read_text() if log_path.exists() else ""
    wall, rps = parse_finished(out)
    _, lat = parse_log(log)
    return LoadResult(n=n, ok=len(lat), errors=n - len(lat), wall_s=wall, rps=rps, latencies_us=lat,
                      cpu_s=cpu1 - cpu0, upstream_cpu_s=up1 - up0)
