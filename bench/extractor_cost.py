"""CPU per chunk of the stream usage extractors: ``python -m bench.extractor_cost``.

The Gemini stream extractor (``streamGenerateContent?alt=sse``: CRLF events, cumulative
``usageMetadata`` on each) beside the OpenAI chat stream extractor (the usage-only chunk), each fed
one event per chunk as a provider sends them, ``make_extractor`` to ``finish`` included:
- mock streams of the same length from the local Lava (200 answer chunks, usage asked for);
- real recorded streams (tests/data/recorded), every recording of each kind, concatenated;
- the same Gemini stream with LF instead of CRLF, to show what the line endings cost the decoder.
Variants run interleaved, 7 rounds, the median printed. Prints figures, asserts nothing; the cores
are shared, so compare the lines of one run, not runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from proxy.emulator.providers import MockRequest, Pacing, mock_reply
from proxy.emulator.target import parse_forward_query
from proxy.usage import Api, RequestFacts, make_extractor
from proxy.usage.base import Extractor

ROOT = Path(__file__).resolve().parent.parent / "tests" / "data" / "recorded"
MAX_LINE = 1 << 20
GEMINI_FACTS = RequestFacts(api=Api.GENERATE_CONTENT, model="gemini-2.5-flash", stream=True)
CHAT_FACTS = RequestFacts(api=Api.CHAT, model="gpt-4o-mini", stream=True, client_wants_usage=True)


def gemini_extractor() -> Extractor:
    return make_extractor(GEMINI_FACTS, "gemini", "text/event-stream", None, max_line_bytes=MAX_LINE)


def chat_extractor() -> Extractor:
    return make_extractor(CHAT_FACTS, "openai", "text/event-stream", None, max_line_bytes=MAX_LINE)


def mock_stream(url: str, body: bytes, chunks: int) -> list[bytes]:
    import json
    from urllib.parse import quote
    req = MockRequest("POST", parse_forward_query("u=" + quote(url, safe="")), {}, body,
                      json.loads(body), "req_bench", Pacing(chunks=chunks, output_tokens=chunks), 0)
    return [p.data for p in mock_reply(req).parts]


def recorded_events(folder: str, sep: bytes) -> list[bytes]:
    """Every event of every 200 SSE recording under ``folder``, one chunk each."""
    import yaml
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: list[bytes] = []
    for path in sorted((ROOT / folder).rglob("*.yaml")):
        for inter in yaml.load(path.read_text(encoding="utf-8"), Loader=loader)["interactions"]:
            resp = inter["response"]
            ctype = (resp.get("headers") or {}).get("Content-Type", [""])[0]
            if resp["code"] != 200 or not ctype.startswith("text/event-stream"):
                continue
            body = resp["body"].encode()
            out.extend(e + sep for e in body.split(sep) if e)
    return out


def per_chunk(make: Callable[[], Extractor], chunks: list[bytes], streams: int) -> float:
    """CPU µs per chunk over ``streams`` whole streams (creation and finish included)."""
    t = time.process_time()
    for _ in range(streams):
        ex = make()
        for c in chunks:
            ex.feed(c)
        ex.finish()
    return (time.process_time() - t) / (streams * len(chunks)) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=200, help="answer chunks per mock stream")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--budget", type=int, default=200_000, help="chunks fed per variant per round")
    args = ap.parse_args()
    gemini_mock = mock_stream(
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:"
        "streamGenerateContent?alt=sse",
        b'{"contents":[{"role":"user","parts":[{"text":"Count to a hundred"}]}]}', args.chunks)
    chat_mock = mock_stream(
        "https://api.openai.com/v1/chat/completions",
        b'{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},'
        b'"messages":[{"role":"user","content":"Count to a hundred"}]}', args.chunks)
    gemini_rec = recorded_events("genai/gemini", b"\r\n\r\n")
    chat_rec = recorded_events("genai/openaichat", b"\n\n") + recorded_events(
        "envoy-ai-gateway/openai", b"\n\n")
    variants: dict[str, tuple[Callable[[], Extractor], list[bytes]]] = {
        f"gemini mock ({len(gemini_mock)} chunks, CRLF)": (gemini_extractor, gemini_mock),
        "gemini mock, LF instead of CRLF": (
            gemini_extractor, [c.replace(b"\r\n", b"\n") for c in gemini_mock]),
        f"openai chat mock ({len(chat_mock)} chunks)": (chat_extractor, chat_mock),
        f"gemini recorded ({len(gemini_rec)} events, CRLF)": (gemini_extractor, gemini_rec),
        f"openai chat recorded ({len(chat_rec)} events)": (chat_extractor, chat_rec),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (make, chunks) in variants.items():
            results[name].append(per_chunk(make, chunks, max(1, args.budget // len(chunks))))
    sizes = {name: sum(map(len, chunks)) / len(chunks) for name, (_, chunks) in variants.items()}
    for name, values in results.items():
        print(f"{name:42s} {statistics.median(values):6.2f} µs CPU per chunk "
              f"(mean chunk {sizes[name]:6.0f} B; min {min(values):.2f}, max {max(values):.2f})")


if __name__ == "__main__":
    main()
