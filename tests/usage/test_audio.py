"""Audio: seconds, tokens or verbose_json duration for transcripts; characters for speech."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from proxy.usage import Api, RequestFacts, Usage, make_extractor

from .streamkit import run, sse


def transcript(body: dict[str, object], api: Api = Api.AUDIO_TRANSCRIPTION) -> Usage:
    facts = RequestFacts(api=api)
    return run(lambda: make_extractor(facts, "openai", "application/json", None,
                                      max_line_bytes=1 << 16), json.dumps(body).encode())


@pytest.mark.parametrize(("seconds", "want"), [(7, Decimal(7)), (7.25, Decimal("7.25")),
                                               (0.1, Decimal("0.1"))])
def test_duration_usage_is_exact_decimal(seconds: float, want: Decimal) -> None:
    got = transcript({"text": "hi", "usage": {"type": "duration", "seconds": seconds}})
    assert got == Usage(audio_seconds=want, source="provider")


def test_token_usage() -> None:
    got = transcript({"text": "hi", "usage": {
        "type": "tokens", "input_tokens": 14, "output_tokens": 45, "total_tokens": 59,
        "input_token_details": {"text_tokens": 0, "audio_tokens": 14}}})
    assert got == Usage(input_tokens=14, output_tokens=45, source="provider")


def test_verbose_json_duration_and_translation_without_usage() -> None:
    got = transcript({"task": "transcribe", "duration": 8.47, "text": "hi", "segments": []})
    assert got == Usage(audio_seconds=Decimal("8.47"), source="provider")
    assert transcript({"text": "hi"}, Api.AUDIO_TRANSLATION) == Usage()


def test_nonsense_durations_are_absent() -> None:
    for bad in (-1, True, "7", 10**9, float("inf")):
        body = {"usage": {"type": "duration", "seconds": bad}}
        assert transcript(body).audio_seconds is None


def test_transcription_stream_done_event() -> None:
    facts = RequestFacts(api=Api.AUDIO_TRANSCRIPTION, stream=True)
    body = sse({"type": "transcript.text.delta", "delta": "hi"},
               {"type": "transcript.text.done", "text": "hi",
                "usage": {"type": "tokens", "input_tokens": 5, "output_tokens": 2}})
    got = run(lambda: make_extractor(facts, "openai", "text/event-stream", None,
                                     max_line_bytes=1 << 16), body)
    assert (got.input_tokens, got.output_tokens, got.source) == (5, 2, "provider")


def test_speech_bills_the_request_characters_once_audio_arrives() -> None:
    facts = RequestFacts(api=Api.AUDIO_SPEECH, input_characters=42)
    make = lambda: make_extractor(facts, "openai", "audio/mpeg", None,  # noqa: E731
                                  max_line_bytes=1 << 16)
    assert run(make, b"ID3\x04\x00" + bytes(range(256)) * 4) == Usage(
        input_characters=42, source="provider")
    nothing = make()
    assert nothing.finish() == Usage()


def test_speech_stream_done_event() -> None:
    facts = RequestFacts(api=Api.AUDIO_SPEECH, input_characters=42)
    body = sse({"type": "speech.audio.delta", "audio": "AAAA" * 500},
               {"type": "speech.audio.done",
                "usage": {"input_tokens": 14, "output_tokens": 101, "total_tokens": 115}})
    got = run(lambda: make_extractor(facts, "openai", "text/event-stream", None,
                                     max_line_bytes=1 << 16), body)
    assert (got.input_tokens, got.output_tokens) == (14, 101)
