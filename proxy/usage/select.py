"""Picks the extractor for one response: API and content type decide, encoding wraps."""

from __future__ import annotations

from typing import Final, NamedTuple

from .anthropic import ANTHROPIC_KEYS, AnthropicStreamExtractor, read_anthropic
from .audio import AUDIO_KEYS, SpeechExtractor, read_audio
from .base import MISSING, NO_USAGE, Api, Extractor, Family, RequestFacts, Usage
from .compressed import DEFAULT_MAX_DECODED, DecompressingExtractor, coding_of
from .gemini import GeminiJsonExtractor, GeminiStreamExtractor
from .jsonbody import DEFAULT_MAX_JSON_BYTES, JsonExtractor
from .openai import OPENAI_KEYS, OpenAIStreamExtractor, read_openai
from .responses import ResponsesStreamExtractor
from .strip import StrippedStreamUsage, UsageChunkStripper

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


class NoUsageExtractor:
    """For APIs with nothing to bill by nature (models lists, token counts, moderations): costs
    nothing, reports ``none`` (issue 23: they counted as ``missing`` and raised ``missing_usage``)."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> None:
        return None

    def finish(self) -> Usage:
        return NO_USAGE


def make_extractor(facts: RequestFacts, family: Family, content_type: str | None,
                   content_encoding: str | None, *, max_line_bytes: int,
                   max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
                   max_decoded_bytes: int = DEFAULT_MAX_DECODED) -> Extractor:
    """The extractor for one upstream response, fed the bytes exactly as they came.

    ``content_type``/``content_encoding`` are the upstream response's headers. A compressed body
    is decoded for the extractor only (gzip/deflate; a coding zlib cannot read gives ``missing``).
    """
    return extractor_for(facts, family, mime_of(content_type), content_encoding,
                         max_line_bytes=max_line_bytes, max_json_bytes=max_json_bytes,
                         max_decoded_bytes=max_decoded_bytes)


def extractor_for(facts: RequestFacts, family: Family, mime: str, content_encoding: str | None, *,
                  max_line_bytes: int, max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
                  max_decoded_bytes: int = DEFAULT_MAX_DECODED) -> Extractor:
    """``make_extractor`` for a content type already reduced to its ``mime_of`` (the relay
    needs it too: it is worked out once)."""
    coding = coding_of(content_encoding)
    if coding is None:
        return NullExtractor()
    inner = _choose(facts, family, mime, max_line_bytes, max_json_bytes)
    if coding and not isinstance(inner, NullExtractor | NoUsageExtractor):
        return DecompressingExtractor(inner, coding, max_decoded=max_decoded_bytes)
    return inner


class Readers(NamedTuple):
    """What reads one response: its extractor, and the ``include_usage`` stripper when the sidecar
    injected the opt-in into an event stream. ``stripper_reads_usage``: one pass over the stream,
    the stripper showing every event to the usage reader (so the extractor is not fed)."""

    extractor: Extractor
    stripper: UsageChunkStripper | None
    stripper_reads_usage: bool


def readers_for(facts: RequestFacts, family: Family, mime: str, content_encoding: str | None, *,
                max_line_bytes: int) -> Readers:
    """The relay's readers for one response (``mime`` from ``mime_of``)."""
    if facts.usage_injected and mime == EVENT_STREAM:
        if coding_of(content_encoding) == "" and facts.api not in _NO_USAGE:
            reader = OpenAIStreamExtractor(max_line_bytes=max_line_bytes)
            stripper = UsageChunkStripper(max_event_bytes=max_line_bytes, usage=reader)
            return Readers(StrippedStreamUsage(stripper), stripper, True)
        # A compressed stream: the stripper sees what is on the wire, the extractor a decoded copy.
        return Readers(extractor_for(facts, family, mime, content_encoding,
                                     max_line_bytes=max_line_bytes), UsageChunkStripper(), False)
    return Readers(extractor_for(facts, family, mime, content_encoding,
                                 max_line_bytes=max_line_bytes), None, False)


def _choose(facts: RequestFacts, family: Family, mime: str, max_line_bytes: int,
            max_json_bytes: int) -> Extractor:
    api = facts.api
    if api in _NO_USAGE:
        return NoUsageExtractor()
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
    return mime_of(content_type) == EVENT_STREAM


def mime_of(content_type: str | None) -> str:
    """``Text/Event-Stream; charset=utf-8`` → ``text/event-stream``."""
    return (content_type or "").partition(";")[0].strip().lower()


def _is_json(mime: str) -> bool:
    # No content type at all: try JSON, the parse fails quietly if it is not.
    return mime in ("", "application/json") or mime.endswith("+json")
