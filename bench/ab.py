"""``python -m bench.ab``: CPU per request of this checkout's sidecar against others, interleaved.

For "this change costs nothing measurable" (a refactor) and "this feature costs N µs" (a feature
switched on): the same fake upstream, the same h2load load, rounds interleaved with the target
order rotated, CPU charged from /proc (steal is not charged). Each round also runs ``--streams``
streamed chat completions (64 chunks paced 2 ms, 16 at a time, ``include_usage`` injected) and
``--gemini-streams`` (default: as many) streamed Gemini completions (the same 64 tokens as
``streamGenerateContent?alt=sse`` chunks, through ``/gemini``), the two kinds in alternating
(ABBA) slices, and charges their CPU per stream.
Medians are printed, and Gemini over OpenAI per stream (the median of the rounds' ratios);
compare the ratios, not the absolute figures, on a shared 2-core VM.

    python -m bench.ab --base ../wt-base                       # another checkout (its own .venv)
    python -m bench.ab --variant 'quota=quotas: {default: {requests_per_minute: 100000000}}'
    python -m bench.ab --variant "traced=tracing: {endpoint: 'http://127.0.0.1:{upstream_port}/v1/traces'}"
    python -m bench.ab --base-variant 'quota-before@../main=quotas: {default: {requests_per_minute: 1000}}'
    python -m bench.ab --nginx --floor                         # + nginx and the Python floor (bench/floor.py)

``{upstream_port}`` in a variant's YAML is the fake upstream's port (it also accepts OTLP/HTTP
trace exports at ``/v1/traces``, and discards them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from . import payloads, targets
from .loadgen import h2load
from .measure import Plan, Runner
from .run import _start_upstream
from .stats import percentile
from .vmstat import VmstatLog


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, action="append", default=[],
                   help="another checkout to compare (uses DIR/.venv/bin/lava-sidecar); repeatable")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=YAML",
                   help="this checkout with YAML appended to its config; repeatable")
    p.add_argument("--base-variant", action="append", default=[], metavar="NAME@DIR=YAML",
                   help="another checkout with YAML appended to its config (a feature before and "
                        "after a change); repeatable")
    p.add_argument("--env", action="append", default=[], metavar="NAME:VAR=VALUE",
                   help="an environment variable for one variant (e.g. traced:OTEL_...=...)")
    p.add_argument("--nginx", action="store_true", help="also nginx, the reference (its ratios)")
    p.add_argument("--floor", action="store_true",
                   help="also python-floor (bench/floor.py): the cheapest proxy Python can be")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--streams", type=int, default=512,
                   help="streamed completions per round and target (0: JSON requests only)")
    p.add_argument("--gemini-streams", type=int,
                   help="streamed Gemini completions per round and target (default: --streams; 0: none, as "
                        "for a --base older than the /gemini route)")
    return p.parse_args(argv)


def _stream_cpu(t: targets.Target, upstream_pids: list[int], chat_n: int, gemini_n: int,
                plan: Plan) -> tuple[float | None, float | None, int]:
    """CPU µs per chat stream and per Gemini stream through ``t`` (``chat_n`` and ``gemini_n``
    of them, in ABBA slices as the bench's rounds take them; None for none), and how many failed."""
    runner = Runner(replace(plan, cpu_streams=chat_n, gemini_streams=gemini_n), upstream_pids,
                    VmstatLog())
    figs = runner.stream_cpus(t)
    chat, gemini = figs["stream_cpu"], figs["gemini_stream_cpu"]
    return chat["cpu_us_per_stream"], gemini["cpu_us_per_stream"], chat["errors"] + gemini["errors"]


def _print_streams(title: str, made: list[targets.Target], figs: dict[str, list[float]], events: int,
                   width: int, over: dict[str, list[float]] | None = None) -> None:
    """One table of CPU per stream: median, rounds, against ``this``, per chunk (and, given the
    chat figures ``over``, the median of the rounds' ratios to them)."""
    ref = statistics.median(figs["this"])
    print(f"{'target':<20}{title + ' (median)':>34}{'rounds':>{width}}{'vs this':>10}{'µs/chunk':>12}"
          + (f"{'x OpenAI':>12}" if over else ""))
    for t in made:
        med = statistics.median(figs[t.name])
        rounds = ", ".join(f"{v:.0f}" for v in figs[t.name])
        line = f"{t.name:<20}{med:>34.1f}{rounds:>{width}}{med / ref:>10.2f}{med / events:>12.2f}"
        if over:
            ratios = [g / o for g, o in zip(figs[t.name], over[t.name], strict=True)]
            line += f"{statistics.median(ratios):>12.3f}"
        print(line)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    gemini_n = args.streams if args.gemini_streams is None else args.gemini_streams
    plan = replace(Plan.full(), cpu_streams=args.streams, gemini_streams=gemini_n)
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        work = Path(tmp)
        upstream, up_port = _start_upstream(work, plan)
        envs: dict[str, dict[str, str]] = {}
        for item in args.env:
            name, _, kv = item.partition(":")
            key, _, value = kv.partition("=")
            envs.setdefault(name, {})[key] = value
        made: list[targets.Target] = []
        try:
            made.append(targets.sidecar(work, up_port, "lean", name="this"))
            for base in args.base:
                exe = base.resolve() / ".venv" / "bin" / "lava-sidecar"
                made.append(targets.sidecar(work, up_port, "lean", name=base.name, argv=[str(exe)]))
            for variant in args.variant:
                name, _, yaml = variant.partition("=")
                yaml = yaml.replace("{upstream_port}", str(up_port))
                made.append(targets.sidecar(work, up_port, "lean", name=name, extra_config=yaml + "\n",
                                            env_extra=envs.get(name)))
            if args.nginx:
                made.append(targets.nginx(work, up_port))
            if args.floor:
                made.append(targets.floor(work, up_port))
            for variant in args.base_variant:
                head, _, yaml = variant.partition("=")
                name, _, base_dir = head.partition("@")
                exe = Path(base_dir).resolve() / ".venv" / "bin" / "lava-sidecar"
                yaml = yaml.replace("{upstream_port}", str(up_port))
                made.append(targets.sidecar(work, up_port, "lean", name=name, argv=[str(exe)],
                                            extra_config=yaml + "\n", env_extra=envs.get(name)))
            body = payloads.request_body(stream=False)
            cpu: dict[str, list[float]] = {t.name: [] for t in made}
            p50: dict[str, list[float]] = {t.name: [] for t in made}
            stream: dict[str, list[float]] = {t.name: [] for t in made}
            gemini: dict[str, list[float]] = {t.name: [] for t in made}
            p99: dict[str, list[float]] = {t.name: [] for t in made}
            for t in made:  # warm-up: first requests pay for imports and page faults
                h2load(t.url(), n=2000, c=args.concurrency, body=body, headers=t.headers,
                       pids=t.pids(), upstream_pids=upstream.pids(), timeout=120)
                if args.streams or gemini_n:
                    _stream_cpu(t, upstream.pids(), 32 if args.streams else 0, 32 if gemini_n else 0,
                                plan)
            for r in range(args.rounds):
                order = made[r % len(made):] + made[:r % len(made)]
                for t in order:
                    res = h2load(t.url(), n=args.requests, c=args.concurrency, body=body,
                                 headers=t.headers, pids=t.pids(), upstream_pids=upstream.pids(),
                                 timeout=300)
                    if res.errors:
                        print(f"{t.name}: {res.errors} errors", file=sys.stderr)
                        return 1
                    cpu[t.name].append(res.cpu_s / res.n * 1e6)
                    p50[t.name].append(statistics.median(res.latencies_us) / 1000)
                    p99[t.name].append((percentile(res.latencies_us, 99) or 0.0) / 1000)
                    line = f"round {r + 1} {t.name}: {cpu[t.name][-1]:.1f} µs CPU/request"
                    if args.streams or gemini_n:
                        per_chat, per_gemini, failed = _stream_cpu(t, upstream.pids(), args.streams,
                                                                   gemini_n, plan)
                        if failed:
                            print(f"{t.name}: {failed} streams failed", file=sys.stderr)
                            return 1
                        if per_chat is not None:
                            stream[t.name].append(per_chat)
                            line += f", {per_chat:.1f} µs CPU/stream"
                        if per_gemini is not None:
                            gemini[t.name].append(per_gemini)
                            line += f", {per_gemini:.1f} µs CPU/Gemini stream"
                    print(line, file=sys.stderr)
            ref = statistics.median(cpu["this"])
            c = str(args.concurrency)
            width = max(40, 7 * args.rounds + 2)
            print(f"{'target':<20}{'CPU µs/request (median)':>26}{'rounds':>{width}}{'vs this':>10}"
                  f"{'p50 ms at c=' + c:>16}{'p99 ms at c=' + c:>16}")
            for t in made:
                med = statistics.median(cpu[t.name])
                rounds = ", ".join(f"{v:.1f}" for v in cpu[t.name])
                print(f"{t.name:<20}{med:>26.1f}{rounds:>{width}}{med / ref:>10.2f}"
                      f"{statistics.median(p50[t.name]):>16.2f}{statistics.median(p99[t.name]):>16.2f}")
            if args.streams:
                _print_streams("CPU µs/chat stream", made, stream,
                               payloads.stream_events(include_usage=True), width)
            if gemini_n:
                _print_streams("CPU µs/Gemini stream", made, gemini, payloads.gemini_stream_events(),
                               width, over=stream if args.streams else None)
        finally:
            for t in made:
                t.stop()
            upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
