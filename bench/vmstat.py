"""``vmstat 1`` running beside the benchmark: the CPU steal (``st``) seen while each phase ran."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field

_MAX_SAMPLES = 7200  # two hours at one a second: bounded even if a run is left going


@dataclass(slots=True)
class Sample:
    t: float  # seconds since the log started
    us: int
    sy: int
    idle: int
    st: int


@dataclass
class VmstatLog:
    """Start, run the benchmark, stop; ``samples`` then hold one line per second."""

    samples: list[Sample] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = None
    _thread: threading.Thread | None = None
    _t0: float = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        try:
            self._proc = subprocess.Popen(["vmstat", "-n", "1"], stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True)
        except FileNotFoundError:
            return  # no procps: the JSON says so (no samples)
        self._thread = threading.Thread(target=self._read, name="vmstat", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        cols: list[str] = []
        for line in proc.stdout:
            parts = line.split()
            if "st" in parts and "us" in parts:
                cols = parts
                continue
            if not cols or len(parts) != len(cols) or not parts[0].isdigit():
                continue
            row = dict(zip(cols, parts, strict=True))
            if len(self.samples) < _MAX_SAMPLES:
                self.samples.append(Sample(round(time.monotonic() - self._t0, 1), int(row["us"]),
                                           int(row["sy"]), int(row["id"]), int(row["st"])))

    def now(self) -> float:
        return time.monotonic() - self._t0

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def steal_between(self, start: float, end: float) -> float | None:
        """Mean ``st`` % over a window (the first sample is vmstat's since-boot average: skipped)."""
        vals = [s.st for s in self.samples[1:] if start <= s.t <= end + 1]
        return round(sum(vals) / len(vals), 1) if vals else None

    def summary(self) -> dict[str, object]:
        st = [s.st for s in self.samples[1:]]
        return {
            "available": self._proc is not None,
            "steal_mean_pct": round(sum(st) / len(st), 1) if st else None,
            "steal_max_pct": max(st) if st else None,
            "samples": [[s.t, s.us, s.sy, s.idle, s.st] for s in self.samples],
            "columns": ["t_s", "us", "sy", "id", "st"],
        }
