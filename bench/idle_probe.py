"""First-byte time after idleness: one request at a time, direct and through the sidecar.

    .venv/bin/python -m bench.upstream --port 18900 --interval 0.002 &
    LAVA_SECRET_KEY=aks_test_probe LAVA_GATEWAY_URL=http://127.0.0.1:18900 \\
        .venv/bin/lava-sidecar serve --config bench/idle_probe.yaml &
    .venv/bin/python -m bench.idle_probe --direct 18900 --sidecar 18901

For each of streamed / not streamed and back to back / after ``--gap`` seconds of idleness, sends
``--requests`` requests on one keep-alive connection (the first five discarded) and prints the
p50 time from request written to first response byte, and the sidecar's own
``x-lava-sidecar-overhead-ms`` (handler start to the request leaving). It shows what the main
benchmark's stream TTFB measures: streams started 80 ms apart meet a sidecar that was idle.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time

_OVERHEAD = re.compile(rb"x-lava-sidecar-overhead-ms: ([0-9.]+)")
_WHO = b"X-Lava-Customer-Id: cus_probe\r\nX-Lava-Meter: probe\r\n"


def _request(stream: bool, extra: bytes) -> bytes:
    body = (b'{"model":"gpt-4o-mini","stream":%s,"messages":[{"role":"user","content":"hi"}]}'
            % (b"true" if stream else b"false"))
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\n"
            + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _complete(buf: bytes, stream: bool) -> bool:
    # Streams end with the last chunk of chunked framing; the JSON reply with its closing brace.
    return buf.endswith(b"0\r\n\r\n") if stream else buf.rstrip().endswith(b"}")


async def _probe(port: int, *, stream: bool, gap: float, requests: int,
                 extra: bytes) -> tuple[float, float | None]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    firsts: list[float] = []
    overheads: list[float] = []
    try:
        for _ in range(requests):
            await asyncio.sleep(gap)
            t0 = time.perf_counter()
            writer.write(_request(stream, extra))
            buf, first = b"", None
            while not _complete(buf, stream):
                data = await reader.read(65536)
                if not data:
                    raise SystemExit(f"port {port} closed the connection")
                if first is None:
                    first = time.perf_counter()
                buf += data
            assert first is not None
            firsts.append((first - t0) * 1000)
            if m := _OVERHEAD.search(buf):
                overheads.append(float(m.group(1)))
    finally:
        writer.close()
    overhead = statistics.median(overheads[5:]) if overheads[5:] else None
    return statistics.median(firsts[5:]), overhead


async def _main(args: argparse.Namespace) -> None:
    print(f"{'target':8} {'body':10} {'before each':>12} {'first byte p50':>15} "
          f"{'sidecar pre-upstream p50':>25}")
    for gap in (0.0, args.gap):
        for stream in (False, True):
            for name, port, extra in (("direct", args.direct, b""), ("sidecar", args.sidecar, _WHO)):
                first, overhead = await _probe(port, stream=stream, gap=gap, requests=args.requests,
                                               extra=extra)
                when = "nothing" if gap == 0 else f"{gap * 1000:.0f} ms idle"
                pre = f"{overhead:.3f} ms" if overhead is not None else "-"
                print(f"{name:8} {'streamed' if stream else 'JSON':10} {when:>12} {first:12.3f} ms"
                      f" {pre:>25}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--direct", type=int, required=True, help="port of bench.upstream")
    p.add_argument("--sidecar", type=int, required=True, help="port of the sidecar in front of it")
    p.add_argument("--gap", type=float, default=0.05, help="idle seconds before each request")
    p.add_argument("--requests", type=int, default=40)
    asyncio.run(_main(p.parse_args()))


if __name__ == "__main__":
    main()
