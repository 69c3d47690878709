"""OpenAI Responses API streams: usage sits on the terminal event, and there is no ``[DONE]``.

JSON bodies read like any OpenAI body (``read_openai``).
"""

from __future__ import annotations

from typing import Final

from .base import Usage
from .fields import obj, openai_usage, text
from .jsonscan import JsonDict, parse_object
from .openai import OPENAI_KEYS, read_openai
from .streams import StreamExtractor, event_type

__all__ = ["OPENAI_KEYS", "ResponsesStreamExtractor", "read_openai"]

_TERMINAL: Final = frozenset({b"response.completed", b"response.incomplete", b"response.failed"})
#: Early events that name the response, so a stream cut before its end still says which.
_NAMING: Final = frozenset({b"response.created", b"response.in_progress"})


class ResponsesStreamExtractor(StreamExtractor):
    """Terminal events: ``response.completed``, ``response.incomplete``, ``response.failed`` (the
    last may carry no usage when generation never started)."""

    __slots__ = ("_id", "_model", "_usage")

    def __init__(self, *, max_line_bytes: int) -> None:
        super().__init__(max_line_bytes=max_line_bytes)
        self._usage: JsonDict = {}
        self._model: str | None = None
        self._id: str | None = None

    def wants(self, raw: bytes) -> bool:
        # The event's name is in its bytes (its event: line, or its JSON type).
        for name in _TERMINAL:
            if raw.find(name) >= 0:
                return True
        if self._id is None:
            for name in _NAMING:
                if raw.find(name) >= 0:
                    return True
        return False

    def on_event(self, name: bytes, data: bytes) -> None:
        kind = event_type(name, data)
        terminal = kind in _TERMINAL
        if not terminal and (kind not in _NAMING or self._id is not None):
            return
        response = obj((parse_object(data) or {}).get("response"))
        self._model = text(response.get("model")) or self._model
        self._id = text(response.get("id")) or self._id
        usage = response.get("usage")
        if terminal and isinstance(usage, dict):
            self._usage = usage

    def _result(self) -> Usage:
        return openai_usage(self._usage, model=self._model, response_id=self._id, named=True)
