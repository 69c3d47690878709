"""The usage vocabulary every extractor speaks: API families, request facts, and ``Usage``.

Conventions (the OpenTelemetry GenAI ones, so numbers mean the same across providers):
``input_tokens`` counts *all* input tokens, cached reads and cache writes included, so Anthropic's
``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``; ``cache_read_tokens`` and
``cache_write_tokens`` are parts of it. ``output_tokens`` counts all output, reasoning included;
``reasoning_tokens`` is a part of it. ``None`` means the provider did not say: absent is not zero.
Gemini's ``toolUsePromptTokenCount`` is input too: ``tool_prompt_tokens`` is a part of
``input_tokens``; ``modality_tokens`` breaks the parts down by modality where the provider does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Final, Literal, Protocol

#: Where a record's numbers came from: ``provider`` (the response said), ``estimated`` (the opt-in
#: guess), ``missing`` (the call should have had usage and none was reported: absent is not zero),
#: ``none`` (nothing to bill by nature: a models list, a token count, a moderation, or an answer
#: with an error status that reported no usage, such as Lava's own 400/401/402 refusals).
Source = Literal["provider", "estimated", "missing", "none"]
Family = Literal["openai", "anthropic", "gemini"]


class Api(StrEnum):
    """The API a request speaks. Values are the ``api`` metric label: a fixed, bounded set."""

    CHAT = "chat"                              # POST …/chat/completions
    COMPLETIONS = "completions"                # POST …/completions (legacy)
    EMBEDDINGS = "embeddings"                  # POST …/embeddings, Gemini :(batch)EmbedContent(s)
    RESPONSES = "responses"                    # POST …/responses
    MESSAGES = "messages"                      # POST Anthropic /v1/messages
    GENERATE_CONTENT = "generate_content"      # POST Gemini …/models/{m}:(stream)generateContent
    COUNT_TOKENS = "count_tokens"              # POST Anthropic …/count_tokens, Gemini :countTokens
    AUDIO_TRANSCRIPTION = "audio_transcription"  # POST …/audio/transcriptions (multipart)
    AUDIO_TRANSLATION = "audio_translation"    # POST …/audio/translations (multipart)
    AUDIO_SPEECH = "audio_speech"              # POST …/audio/speech (JSON in, audio bytes out)
    IMAGES = "images"                          # …/images/*
    MODERATIONS = "moderations"
    MODELS = "models"                          # GET …/models[/id]
    OTHER = "other"                            # files, batches, anything else forwarded


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the sidecar learned from the request before sending it on."""

    api: Api
    model: str | None = None
    stream: bool = False
    #: The client itself asked for ``stream_options.include_usage``: relay the usage chunk.
    client_wants_usage: bool = False
    #: The sidecar added ``include_usage``: strip the usage-only chunk before the client sees it.
    usage_injected: bool = False
    #: Text-to-speech: characters of ``input`` (Lava's ``characters_1m`` tier).
    input_characters: int | None = None
    #: The body as parsed, when it was parsed whole (small JSON bodies): a quota's estimate reads
    #: it instead of parsing the body again. Never compared or printed; nothing may change it.
    doc: dict[str, object] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Usage:
    """What one response consumed, and where the numbers came from. Frozen: ``MISSING`` is
    shared, and other dataclasses use it as a default."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    #: Tokens of the prompts a tool (search, URL fetch, code) ran on: a part of ``input_tokens``.
    tool_prompt_tokens: int | None = None
    input_characters: int | None = None
    audio_seconds: Decimal | None = None
    #: The model the provider says answered (``gpt-5-nano-2025-08-07``), if it said.
    model: str | None = None
    response_id: str | None = None
    source: Source = "missing"
    #: ``(part, modality, tokens)``: ``part`` one of ``MODALITY_PARTS``, ``modality`` one of
    #: ``MODALITIES`` (Gemini's ``*TokensDetails``); empty when the provider gave no breakdown.
    modality_tokens: tuple[tuple[str, str, int], ...] = ()

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


MISSING = Usage()
#: A call with nothing to bill (``source: none``): not a gap in the record, unlike ``MISSING``.
NO_USAGE = Usage(source="none")
#: The parts of usage a modality breakdown is given for (and the order the usage line keeps).
MODALITY_PARTS: Final = ("input", "cache_read", "tool_prompt", "output")
#: Gemini's ``Modality`` values, lower-cased: a fixed set, so a line or a label stays bounded.
MODALITIES: Final = frozenset({"text", "image", "video", "audio", "document"})


class Extractor(Protocol):
    """Reads usage from a copy of the response bytes. Created per response; not shared.

    ``feed`` takes the bytes exactly as they came from upstream, in any split; ``finish`` returns
    what was seen so far (it may be called after an early end, and gives partial usage then).
    Implementations never raise on malformed input: they skip what they cannot read.
    """

    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> Usage: ...
