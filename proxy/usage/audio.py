"""Audio: transcription/translation JSON (seconds or tokens) and text-to-speech (characters)."""

from __future__ import annotations

from typing import Final

from .base import RequestFacts, Usage
from .fields import finish, has_counts, obj, openai_usage, seconds, text
from .jsonscan import JsonDict

AUDIO_KEYS: Final = ("usage", "model", "id", "duration")


def read_audio(top: JsonDict) -> Usage:
    """Whisper says ``usage: {"type": "duration", "seconds": 7}``, the gpt-4o transcribers
    ``"type": "tokens"``; older ``verbose_json`` answers only carry a top-level ``duration``."""
    usage = openai_usage(obj(top.get("usage")))
    if not has_counts(usage):
        usage = Usage(audio_seconds=seconds(top.get("duration")))
    return finish(usage, model=text(top.get("model")), response_id=text(top.get("id")))


class SpeechExtractor:
    """Speech answers are audio bytes: what is billed is the request's ``input`` characters,
    counted exactly by ``request.inspect``; nothing in the audio itself is read."""

    __slots__ = ("_characters", "_seen")

    def __init__(self, facts: RequestFacts) -> None:
        self._characters = facts.input_characters
        self._seen = False

    def feed(self, chunk: bytes) -> None:
        if chunk:
            self._seen = True

    def finish(self) -> Usage:
        # No audio arrived, nothing was delivered: do not bill characters for it.
        characters = self._characters if self._seen else None
        return finish(Usage(input_characters=characters), model=None, response_id=None)
