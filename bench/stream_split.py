"""``python -m bench.stream_split``: a stream's CPU split into its fixed part and its part per chunk.

``make bench`` charges a 64-chunk stream's CPU to its 64 chunks; that mixes what a stream costs
once (the request: route, identity, token, headers, body inspection, the hop, the record) with
what each chunk costs (a read from Lava, usage work, a write to the client). This runs the same
streamed chat completions at two lengths (``--short`` and ``--long`` chunks, paced 2 ms, 16 at a
time, ``include_usage`` injected by the sidecar) through each target, interleaved, and solves the
two medians for the line ``fixed + chunks x per_chunk``. It says, for issue 22's stream target
(CPU per stream within 1.3x nginx's), which of the two parts stands in the way.

    python -m bench.stream_split                      # this checkout, python-floor,
                                                      #   floor-sees-body, nginx
    python -m bench.stream_split --base ../wt-base    # + another checkout (its own .venv)
    python -m bench.stream_split --pacing             # one short stream back to back, 1 ms and
                                                      #   5 ms apart: what a loop wake-up costs

The fixed part comes out far above a JSON request's CPU under h2load: a stream's events arrive
one by one, each in its own wake-up of the event loop, and ``--pacing`` shows how every proxy's
cost per stream grows as the same streams arrive further apart.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

import uvloop

from . import payloads, procfs, streams, targets
from .cli import compare_parser
from .processes import read_ready_port, spawn

_INTERVAL = 0.002
_CONCURRENCY = 16


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = compare_parser("python -m bench.stream_split", __doc__)
    p.add_argument("--short", type=int, default=8, help="chunks in a short stream")
    p.add_argument("--long", type=int, default=264, help="chunks in a long stream")
    p.add_argument("--streams", type=int, default=128, help="long streams per round and target "
                   "(short ones: as many chunks in all)")
    p.add_argument("--pacing", action="store_true",
                   help="instead: --short-chunk streams back to back, 1 ms and 5 ms apart")
    return p.parse_args(argv)


def _cpu_per_stream(t: targets.Target, chunks: int, count: int, spacing: float | None = None) -> float:
    """Sidecar CPU per stream of ``chunks`` chunks (µs), every stream checked whole. ``spacing``:
    seconds between stream starts (default: staggered so that about 16 are in flight)."""
    body = payloads.request_body(stream=True, model=payloads.HOLD_MODEL)
    expected = "".join(payloads.hold_tokens(chunks))
    cpu0 = procfs.cpu_seconds(t.pids())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        batch = runner.run(streams.run_streams(
            t.port, t.path, t.headers, body, count=count, concurrency=_CONCURRENCY,
            spacing=chunks * _INTERVAL / _CONCURRENCY if spacing is None else spacing,
            time_limit=60.0 + chunks * _INTERVAL * 20))
    cpu = procfs.cpu_seconds(t.pids()) - cpu0
    bad = [p for r in batch.results if (p := r.problem(expected)) is not None]
    if bad:
        raise SystemExit(f"{t.name}: {len(bad)} of {count} streams failed: {bad[0]}")
    return cpu * 1e6 / count


def _measure(chunks: int, count: int, rounds: int, bases: list[Path],
             spacings: tuple[float | None, ...] = (None,)) -> dict[tuple[str, float | None], float]:
    """Median CPU per stream of ``chunks`` chunks, per target and spacing (their own upstream:
    the held stream's length is the fake's start-up option)."""
    figures: dict[tuple[str, float | None], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-split-") as tmp:
        work = Path(tmp)
        up = spawn("upstream", [sys.executable, "-m", "bench.upstream", "--port", "0",
                                "--hold-interval", str(_INTERVAL), "--hold-chunks", str(chunks)],
                   log_path=work / "upstream.log", stdout_pipe=True)
        made: list[targets.Target] = []
        try:
            port = read_ready_port(up, 30)
            made.append(targets.sidecar(work, port, "lean", name="this"))
            for base in bases:
                exe = base.resolve() / ".venv" / "bin" / "lava-sidecar"
                made.append(targets.sidecar(work, port, "lean", name=base.name, argv=[str(exe)]))
            made += [targets.floor(work, port), targets.floor(work, port, sees_body=True),
                     targets.nginx(work, port)]
            for t in made:  # warm-up
                _cpu_per_stream(t, chunks, 32)
            for r in range(rounds):
                for t in made[r % len(made):] + made[:r % len(made)]:
                    for spacing in spacings:
                        n = count if not spacing else min(count, int(4.0 / spacing))
                        got = figures.setdefault((t.name, spacing), [])
                        got.append(_cpu_per_stream(t, chunks, n, spacing))
                        print(f"round {r + 1} {t.name} {chunks} chunks, spacing {spacing}: "
                              f"{got[-1]:.1f} µs/stream", file=sys.stderr)
        finally:
            for t in made:
                t.stop()
            up.stop()
    return {key: statistics.median(v) for key, v in figures.items()}


def split(short: float, long: float, n_short: int, n_long: int) -> tuple[float, float]:
    """(fixed, per chunk) of the line through (n_short, short) and (n_long, long)."""
    per_chunk = (long - short) / (n_long - n_short)
    return short - n_short * per_chunk, per_chunk


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    if not 0 < a.short < a.long:
        raise SystemExit("--short must be below --long")
    if a.pacing:
        return _pacing(a)
    short = {k[0]: v for k, v in _measure(a.short, a.streams * a.long // a.short, a.rounds,
                                          a.base).items()}
    long = {k[0]: v for k, v in _measure(a.long, a.streams, a.rounds, a.base).items()}
    ref_fixed, ref_chunk = split(short["nginx"], long["nginx"], a.short, a.long)
    print(f"{'target':<16}{a.short:>6} chunks{a.long:>6} chunks{'fixed µs':>12}{'µs/chunk':>11}"
          f"{'x nginx/chunk':>15}{'64 chunks':>11}{'x nginx':>9}")
    ref64 = ref_fixed + 64 * ref_chunk
    for name in long:
        fixed, per_chunk = split(short[name], long[name], a.short, a.long)
        at64 = fixed + 64 * per_chunk
        print(f"{name:<16}{short[name]:>13.1f}{long[name]:>13.1f}{fixed:>12.1f}{per_chunk:>11.2f}"
              f"{per_chunk / ref_chunk:>15.2f}{at64:>11.1f}{at64 / ref64:>9.2f}")
    budget = 1.3 * ref64
    _, floor_chunk = split(short["python-floor"], long["python-floor"], a.short, a.long)
    print(f"\n1.3x nginx's 64-chunk stream is {budget:.0f} µs: at python-floor's cost per chunk "
          f"the fixed part may be at most {budget - 64 * floor_chunk:.0f} µs.")
    _, seeing_chunk = split(short["floor-sees-body"], long["floor-sees-body"], a.short, a.long)
    fixed, _ = split(short["this"], long["this"], a.short, a.long)
    print(f"At floor-sees-body's cost per chunk (the least metering: each body piece handed to "
          f"Python) it may be at most {budget - 64 * seeing_chunk:.0f} µs.\n"
          f"With this checkout's fixed part ({fixed:.0f} µs) a chunk may cost at most "
          f"{(budget - fixed) / 64:.2f} µs.")
    return 0


def _pacing(a: argparse.Namespace) -> int:
    spacings = (0.0, 0.001, 0.005)
    got = _measure(a.short, a.streams * a.long // a.short, a.rounds, a.base, spacings)
    print(f"{'target':<16}" + "".join(f"{label:>14}" for label in ("back to back", "1 ms apart",
                                                                    "5 ms apart")))
    for name in dict.fromkeys(k[0] for k in got):
        print(f"{name:<16}" + "".join(f"{got[(name, s)]:>14.1f}" for s in spacings))
    print(f"\nCPU per {a.short}-chunk stream (µs), {_CONCURRENCY} at most in flight.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
