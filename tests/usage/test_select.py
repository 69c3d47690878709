"""make_extractor end to end: every recorded response, in every split, gives the reference usage."""

from __future__ import annotations

import gzip
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.usage import Api, NullExtractor, RequestFacts, Usage, make_extractor
from proxy.usage.base import Family

from .recorded import Recording, random_splits, recordings, splits
from .reference import api_of, expected

MAX_LINE = 1 << 20


def family(rec: Recording) -> Family:
    if rec.name.startswith("genai/gemini/"):
        return "gemini"
    return "anthropic" if api_of(rec) is Api.MESSAGES else "openai"


def extract(rec: Recording, pieces: list[bytes], *, encoding: str | None = None) -> Usage:
    facts = RequestFacts(api=api_of(rec))
    extractor = make_extractor(facts, family(rec), rec.content_type, encoding,
                               max_line_bytes=MAX_LINE)
    for piece in pieces:
        extractor.feed(piece)
    return extractor.finish()


@pytest.mark.parametrize("rec", recordings(), ids=str)
def test_recorded_usage_in_every_split(rec: Recording) -> None:
    want = expected(rec)
    for how, pieces in splits(rec.body, seed=len(rec.body)):
        assert extract(rec, pieces) == want, how


def test_the_recordings_cover_every_family() -> None:
    """Guard against a reference that silently reads nothing: these must be real numbers."""
    by_api: dict[Api, int] = {}
    for rec in recordings():
        if expected(rec).source == "provider":
            by_api[api_of(rec)] = by_api.get(api_of(rec), 0) + 1
    assert set(by_api) >= {Api.CHAT, Api.COMPLETIONS, Api.EMBEDDINGS, Api.RESPONSES,
                           Api.MESSAGES, Api.AUDIO_TRANSCRIPTION, Api.GENERATE_CONTENT}
    streamed = [r for r in recordings() if r.is_sse and expected(r).source == "provider"]
    assert len(streamed) > 50


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([r for r in recordings() if r.is_sse]), st.randoms(use_true_random=False))
def test_split_invariance(rec: Recording, rng: random.Random) -> None:
    assert extract(rec, random_splits(rec.body, rng, rng.choice([3, 50, 1000]))) == \
        extract(rec, [rec.body])


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
@pytest.mark.parametrize("name", [
    "genai/anthropic/claude-opus-5_thinking/GenStream-Citations-text-plain",
    "envoy-ai-gateway/openai/embeddings-basic",
    "genai/openairesponses/gpt-5.6-sol_thinking/GenStream-Tools-WebSearch",
])
def test_compressed_responses_are_read_from_a_decoded_copy(name: str, coding: str) -> None:
    rec = next(r for r in recordings() if r.name == name)
    if coding == "gzip":
        body = gzip.compress(rec.body)
    else:
        wbits = zlib.MAX_WBITS if coding == "deflate" else -zlib.MAX_WBITS
        c = zlib.compressobj(wbits=wbits)
        body = c.compress(rec.body) + c.flush()
    header = "gzip" if coding == "gzip" else "deflate"
    for how, pieces in splits(body, seed=1):
        assert extract(rec, pieces, encoding=header) == expected(rec), how


def test_unreadable_encoding_gives_missing() -> None:
    facts = RequestFacts(api=Api.CHAT)
    ex = make_extractor(facts, "openai", "application/json", "br", max_line_bytes=MAX_LINE)
    assert isinstance(ex, NullExtractor)
    ex.feed(b'{"usage": {"prompt_tokens": 1}}')
    assert ex.finish().source == "missing"


@pytest.mark.parametrize(("api", "ctype", "kind"), [
    (Api.CHAT, "text/event-stream; charset=utf-8", "OpenAIStreamExtractor"),
    (Api.COMPLETIONS, "text/event-stream", "OpenAIStreamExtractor"),
    (Api.CHAT, "application/json", "JsonExtractor"),
    (Api.CHAT, None, "JsonExtractor"),
    (Api.RESPONSES, "text/event-stream", "ResponsesStreamExtractor"),
    (Api.MESSAGES, "text/event-stream", "AnthropicStreamExtractor"),
    (Api.MESSAGES, "application/json", "JsonExtractor"),
    (Api.EMBEDDINGS, "application/json", "JsonExtractor"),
    (Api.AUDIO_SPEECH, "audio/mpeg", "SpeechExtractor"),
    (Api.AUDIO_SPEECH, "text/event-stream", "OpenAIStreamExtractor"),
    (Api.AUDIO_TRANSCRIPTION, "text/plain; charset=utf-8", "NullExtractor"),
    (Api.AUDIO_TRANSCRIPTION, "text/event-stream", "OpenAIStreamExtractor"),
    (Api.MODELS, "application/json", "NoUsageExtractor"),  # nothing to bill: source none
    (Api.COUNT_TOKENS, "application/json", "NoUsageExtractor"),
    (Api.OTHER, "application/octet-stream", "NullExtractor"),
    (Api.IMAGES, "application/json", "JsonExtractor"),
])
def test_choice_of_extractor(api: Api, ctype: str | None, kind: str) -> None:
    ex = make_extractor(RequestFacts(api=api), "openai", ctype, None, max_line_bytes=MAX_LINE)
    assert type(ex).__name__ == kind


def test_gzip_is_wrapped_and_null_is_not() -> None:
    ex = make_extractor(RequestFacts(api=Api.CHAT), "openai", "application/json", "gzip",
                        max_line_bytes=MAX_LINE)
    assert type(ex).__name__ == "DecompressingExtractor"
    ex = make_extractor(RequestFacts(api=Api.MODELS), "openai", "application/json", "gzip",
                        max_line_bytes=MAX_LINE)
    assert type(ex).__name__ == "NoUsageExtractor"  # nothing to read: not wrapped
    assert ex.finish().source == "none"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Api)), st.sampled_from(["text/event-stream", "application/json", None,
                                                    "audio/mpeg"]),
       st.sampled_from(recordings()), st.lists(st.tuples(st.integers(0, 10**6), st.binary(
           max_size=3)), max_size=20), st.randoms(use_true_random=False))
def test_damaged_input_never_raises(api: Api, ctype: str | None, rec: Recording,
                                    edits: list[tuple[int, bytes]], rng: random.Random) -> None:
    body = bytearray(rec.body)
    for at, new in edits:   # overwrite, insert or delete a few bytes anywhere
        at %= len(body) + 1
        body[at:at + rng.randint(0, 3)] = new
    ex = make_extractor(RequestFacts(api=api, input_characters=3), family(rec), ctype, None,
                        max_line_bytes=256)
    for piece in random_splits(bytes(body), rng, 500):
        ex.feed(piece)
    assert isinstance(ex.finish(), Usage)
