"""``python -m bench.stream_readers``: CPU per chunk of the stream readers alone, no sockets.

The 64-chunk bench stream (``payloads``, ``include_usage`` injected, so every chunk carries
``"usage":null`` and a usage-only chunk comes last), read the ways the relay can read it,
interleaved, process CPU time (not wall time: a shared VM's steal would dominate):

- ``one pass``: the stripper and the usage reader on one split (what the relay does);
- ``one pass, nulls kept``: the same, leaving ``"usage":null`` on the chunks (the copy that
  removes it is the difference: the evidence for keeping it or not, docs/performance.md);
- ``extractor only``: no stripping at all (a stream whose client asked for usage itself);
- ``gemini``: Gemini's stream of the same 64 tokens (``streamGenerateContent?alt=sse``: CRLF
  events, every one with a cumulative ``usageMetadata``) through its reader, nothing stripped;
- ``anthropic``: Anthropic's stream of the same 64 tokens (``content_block_delta`` events between
  ``message_start`` and ``message_delta``) through its reader, nothing stripped.

Each figure includes the HTTP chunk framing the relay adds. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import timeit
from collections.abc import Callable

from proxy.http1 import chunk
from proxy.usage import strip
from proxy.usage.anthropic import AnthropicStreamExtractor
from proxy.usage.gemini import GeminiStreamExtractor
from proxy.usage.openai import OpenAIStreamExtractor
from proxy.usage.streams import StreamExtractor
from proxy.usage.strip import UsageChunkStripper

from . import payloads


def _variants(writes: tuple[bytes, ...], gemini_writes: tuple[bytes, ...],
              anthropic_writes: tuple[bytes, ...]) -> dict[str, Callable[[], None]]:
    def one_pass() -> None:
        s = UsageChunkStripper(usage=OpenAIStreamExtractor(max_line_bytes=1 << 20))
        for w in writes:
            out = s.feed(w)
            if out:
                chunk(out)
        s.flush()
        s.finish()

    def nulls_kept() -> None:
        saved, saved_end, fast = strip._NULL_MEMBER, strip._NULL_END, UsageChunkStripper._null_member
        # No member matches (feed's quick test, the general path): every null stays.
        strip._NULL_MEMBER = strip._NULL_END = b"\x00never in a stream\x00"  # type: ignore[misc]

        def keep(self: UsageChunkStripper, raw: bytes, key: int) -> bytes:
            usage = self._usage
            if usage is not None and usage.probing:
                usage.last = None
                usage.take(raw)
            return raw

        UsageChunkStripper._null_member = keep  # type: ignore[method-assign]
        try:
            one_pass()
        finally:
            strip._NULL_MEMBER, strip._NULL_END = saved, saved_end  # type: ignore[misc]
            UsageChunkStripper._null_member = fast  # type: ignore[method-assign]

    def reader(kind: type[StreamExtractor], ws: tuple[bytes, ...]) -> Callable[[], None]:
        def read() -> None:
            e = kind(max_line_bytes=1 << 20)
            for w in ws:
                chunk(w)
                e.feed(w)
            e.finish()
        return read

    return {"one pass": one_pass, "one pass, nulls kept": nulls_kept,
            "extractor only": reader(OpenAIStreamExtractor, writes),
            "gemini": reader(GeminiStreamExtractor, gemini_writes),
            "anthropic": reader(AnthropicStreamExtractor, anthropic_writes)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stream_readers", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--streams", type=int, default=100, help="streams per measurement")
    a = p.parse_args(argv)
    writes = payloads.stream_script(payloads.STREAM_TOKENS, include_usage=True).writes
    events = payloads.stream_events(include_usage=True)
    gemini_writes = payloads.gemini_stream_script(payloads.STREAM_TOKENS).writes
    anthropic_writes = payloads.anthropic_stream_script(payloads.STREAM_TOKENS).writes
    variants = _variants(writes, gemini_writes, anthropic_writes)
    names = list(variants)
    got: dict[str, list[float]] = {n: [] for n in names}
    for r in range(a.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            best = min(timeit.repeat(variants[name], number=a.streams, repeat=3,
                                     timer=time.process_time))
            got[name].append(best / a.streams * 1e6)
    print(f"{'reader':24}{'us/stream':>12}{'us/event':>12}   ({events} events, {len(writes)} reads; "
          f"gemini {payloads.gemini_stream_events()} events, anthropic "
          f"{payloads.anthropic_stream_events()}, {len(gemini_writes)} reads each)")
    for name in names:
        med = statistics.median(got[name])
        n = {"gemini": payloads.gemini_stream_events(),
             "anthropic": payloads.anthropic_stream_events()}.get(name, events)
        print(f"{name:24}{med:12.1f}{med / n:12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
