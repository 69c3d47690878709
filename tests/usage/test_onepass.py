"""One pass over an injected stream: the ``include_usage`` stripper and the usage reader share one
split. What the client gets is exactly what the stripper alone gives; the usage is exactly what
the reference reading finds; and each event is parsed at most once, only if it holds usage."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.usage import Api, RequestFacts, jsonscan
from proxy.usage.openai import OpenAIStreamExtractor
from proxy.usage.select import EVENT_STREAM, readers_for
from proxy.usage.strip import StrippedStreamUsage, UsageChunkStripper

from .recorded import Recording, random_splits, recordings, splits
from .reference import api_of, expected

OPENAI_SSE = [r for r in recordings() if r.is_sse and api_of(r) in (Api.CHAT, Api.COMPLETIONS)]


def one_pass(pieces: list[bytes], max_line_bytes: int = 1 << 20) -> tuple[bytes, UsageChunkStripper]:
    stripper = UsageChunkStripper(max_event_bytes=max_line_bytes,
                                  usage=OpenAIStreamExtractor(max_line_bytes=max_line_bytes))
    return b"".join(stripper.feed(p) for p in pieces) + stripper.flush(), stripper


def stripped_alone(body: bytes) -> bytes:
    stripper = UsageChunkStripper()
    return stripper.feed(body) + stripper.flush()


def test_the_recordings_include_injected_and_plain_streams() -> None:
    assert len(OPENAI_SSE) >= 20
    assert any(b'"usage":null' in r.body for r in OPENAI_SSE)


@pytest.mark.parametrize("rec", OPENAI_SSE, ids=str)
def test_recorded_streams_forward_and_read_as_two_passes_did(rec: Recording) -> None:
    want_bytes, want_usage = stripped_alone(rec.body), expected(rec)
    for how, pieces in splits(rec.body, seed=17):
        out, stripper = one_pass(pieces)
        assert out == want_bytes, how
        assert stripper.finish() == want_usage, how


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(OPENAI_SSE), st.randoms(use_true_random=False))
def test_a_cut_stream_reads_what_arrived_whatever_the_split(rec: Recording, rng: random.Random) -> None:
    """A stream cut anywhere (client gone, upstream broken): flush is never called, and the usage
    is what the standalone extractor reads from the same bytes."""
    cut = rec.body[:rng.randint(0, len(rec.body))]
    _, stripper = one_pass_without_flush(random_splits(cut, rng, rng.choice([1, 9, 300])))
    alone = OpenAIStreamExtractor(max_line_bytes=1 << 20)
    alone.feed(cut)
    assert stripper.finish() == alone.finish()


def one_pass_without_flush(pieces: list[bytes]) -> tuple[bytes, UsageChunkStripper]:
    stripper = UsageChunkStripper(usage=OpenAIStreamExtractor(max_line_bytes=1 << 20))
    return b"".join(stripper.feed(p) for p in pieces), stripper


def counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every document the usage readers' parsers (``jsonscan``'s orjson, and ``json.loads``
    where it falls back) are asked to parse."""
    seen: list[bytes] = []

    def counting(real: Callable[..., Any]) -> Callable[..., Any]:
        def loads(doc: Any, *args: Any, **kw: Any) -> Any:
            seen.append(doc if isinstance(doc, bytes) else str(doc).encode())
            return real(doc, *args, **kw)
        return loads

    monkeypatch.setattr(json, "loads", counting(json.loads))
    monkeypatch.setattr(jsonscan, "_fast_loads", counting(jsonscan._fast_loads))
    return seen


@pytest.mark.parametrize("rec", [r for r in OPENAI_SSE if b'"usage":null' in r.body], ids=str)
def test_each_event_is_parsed_at_most_once_and_only_the_usage_chunk_and_the_first(
        rec: Recording, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = counting_loads(monkeypatch)
    stripper = UsageChunkStripper(usage=OpenAIStreamExtractor(max_line_bytes=1 << 20))
    for piece in random_splits(rec.body, random.Random(5), 200):
        stripper.feed(piece)
    stripper.flush()
    usage = stripper.finish()
    data = [line[6:] for line in rec.body.split(b"\n") if line.startswith(b"data: {")]
    holding_usage = [d for d in data if b'"usage":{' in d]
    assert len(holding_usage) == 1
    # The usage chunk (for the usage, and to know it is the one to drop), and the first chunk
    # (the response's names), each once: none of the "usage":null chunks between them.
    assert sorted(parsed) == sorted([holding_usage[0], data[0]])
    assert usage == expected(rec)


def test_the_relay_gets_one_pass_only_for_an_uncompressed_injected_stream() -> None:
    injected = RequestFacts(api=Api.CHAT, stream=True, usage_injected=True)
    one = readers_for(injected, "openai", EVENT_STREAM, None, max_line_bytes=1 << 20)
    assert isinstance(one.extractor, StrippedStreamUsage)
    assert one.stripper is not None
    assert one.stripper_reads_usage
    gz = readers_for(injected, "openai", EVENT_STREAM, "gzip", max_line_bytes=1 << 20)
    assert gz.stripper is not None
    assert not gz.stripper_reads_usage
    asked = readers_for(RequestFacts(api=Api.CHAT, stream=True, client_wants_usage=True), "openai",
                        EVENT_STREAM, None, max_line_bytes=1 << 20)
    assert asked.stripper is None
    assert isinstance(asked.extractor, OpenAIStreamExtractor)
