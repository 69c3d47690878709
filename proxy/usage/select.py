"""Picks the extractor for one response: API and content type decide, encoding wraps."""

from __future__ import annotations

from typing import Final

from .anthropic import ANTHROPIC_KEYS, AnthropicStreamExtractor, read_anthropic
from .audio import AUDIO_KEYS, SpeechExtractor, read_audio
from .base import MISSING, Api, Extractor, Family, RequestFacts, Usage
from .compressed import DEFAULT_MAX_DECODED, DecompressingExtractor, coding_of
from .gemini import GeminiJsonExtractor, GeminiStreamExtractor
from .jsonbody import DEFAULT_MAX_JSON_BYTES, JsonExtractor
from .openai import OPENAI_KEYS, OpenAIStreamExtractor, read_openai
from .responses import ResponsesStreamExtractor

#: APIs whose answers carry nothing billable.
_NO_USAGE: Final = frozenset({Api.MODELS, Api.COUNT_TOKENS, Api.MODERATIONS})
_AUDIO_JSON: Final = frozenset({Api.AUDIO_TRANSCRIPTION, Api.AUDIO_TRANSLATION, Api.AUDIO_SPEECH})
#: Gemini APIs whose answers say what they consumed (``usageMetadata``); anything else under
#: ``/gemini`` (cached contents, files, batches, models) is forwarded and recorded as ``missing``.
_GEMINI_READ: Final = frozenset({Api.GENERATE_CONTENT, Api.EMBEDDINGS})


class NullExtractor:
    """For answers with no usage to read: costs nothing, reports ``missing``."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> None:
        return None

    def finish(self) -> Usage:
        return MISSING


def make_extractor(facts: RequestFacts, family: Family, content_type: str | None,
                   content_encoding: str | None, *, max_line_bytes: int,
                   max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
                   max_decoded_bytes: int = DEFAULT_MAX_DECODED) -> Extractor:
    """The extractor for one upstream response, fed the bytes exactly as they came.

    ``content_type``/``content_encoding`` are the upstream response's headers. A compressed body
    is decoded for the extractor only (gzip/deflate; a coding zlib cannot read gives ``missing``).
    """
    coding = coding_of(content_encoding)
    if coding is None:
        return NullExtractor()
    inner = _choose(facts, family, _mime(content_type), max_line_bytes, max_json_bytes)
    if coding and not isinstance(inner, NullExtractor):
        return DecompressingExtractor(inner, coding, max_decoded=max_decoded_bytes)
    return inner


def _choose(facts: RequestFacts, family: Family, mime: str, max_line_bytes: int,
            max_json_bytes: int) -> Extractor:
    api = facts.api
    if api in _NO_USAGE:
        return NullExtractor()
    if family == "gemini":
        if api not in _GEMINI_READ:
            return NullExtractor()
        if mime == EVENT_STREAM:
            return GeminiStreamExtractor(max_line_bytes=max_line_bytes)
        return GeminiJsonExtractor(max_bytes=max_json_bytes) if _is_json(mime) else NullExtractor()
    if mime == EVENT_STREAM:
        if api is Api.MESSAGES:
            return AnthropicStreamExtractor(max_line_bytes=max_line_bytes)
        if api is Api.RESPONSES:
            return ResponsesStreamExtractor(max_line_bytes=max_line_bytes)
        # chat, completions, and the audio streams (transcript.text.done, speech.audio.done)
        return OpenAIStreamExtractor(max_line_bytes=max_line_bytes)
    if api is Api.AUDIO_SPEECH and (mime.startswith("audio/") or mime == "application/octet-stream"):
        return SpeechExtractor(facts)
    if not _is_json(mime):
        return NullExtractor()  # text/plain transcripts, files, images: nothing to read
    if api is Api.MESSAGES:
        return JsonExtractor(read_anthropic, ANTHROPIC_KEYS, max_bytes=max_json_bytes)
    if api in _AUDIO_JSON:
        return JsonExtractor(read_audio, AUDIO_KEYS, max_bytes=max_json_bytes)
    if api is Api.OTHER and family == "anthropic":
        return NullExtractor()  # batches, files: no per-request usage
    return JsonExtractor(read_openai, OPENAI_KEYS, max_bytes=max_json_bytes)


EVENT_STREAM: Final = "text/event-stream"


def is_event_stream(content_type: str | None) -> bool:
    """Whether a response is Server-Sent Events (the one test: the relay and the extractors agree)."""
    return _mime(content_type) == EVENT_STREAM


def _mime(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def _is_json(mime: str) -> bool:
    # No content type at all: try JSON, the parse fails quietly if it is not.
    return mime in ("", "application/json") or mime.endswith("+json")
