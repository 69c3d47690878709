"""Anthropic Messages: JSON bodies and the ``message_start`` … ``message_delta`` event stream."""

from __future__ import annotations

from typing import Final

from .base import Usage
from .fields import anthropic_usage, finish, merge_latest, obj, text
from .jsonscan import JsonDict, parse_object
from .streams import StreamExtractor, event_type

ANTHROPIC_KEYS: Final = ("usage", "model", "id")


def read_anthropic(top: JsonDict) -> Usage:
    return finish(anthropic_usage(obj(top.get("usage"))),
                  model=text(top.get("model")), response_id=text(top.get("id")))


class AnthropicStreamExtractor(StreamExtractor):
    """``message_delta.usage`` is cumulative and may repeat the input and cache fields.

    Per field the latest value wins, falling back to ``message_start.message.usage``; nothing is
    ever summed across events (the double counting peers shipped: tensorzero#5481,
    envoyproxy/ai-gateway#2239; and the lost tokens of ai-gateway#2290 when only the delta
    carries the input counts).
    """

    __slots__ = ("_id", "_latest", "_model", "_start")

    def __init__(self, *, max_line_bytes: int) -> None:
        super().__init__(max_line_bytes=max_line_bytes)
        self._start: JsonDict = {}
        self._latest: JsonDict = {}
        self._model: str | None = None
        self._id: str | None = None

    def wants(self, raw: bytes) -> bool:
        # The event's name is in its bytes (its event: line, or its JSON type).
        return raw.find(b"message_delta") >= 0 or raw.find(b"message_start") >= 0

    def on_event(self, name: bytes, data: bytes) -> None:
        kind = event_type(name, data)
        if kind == b"message_delta":
            delta = obj((parse_object(data) or {}).get("usage"))
            if delta:
                self._latest = merge_latest(self._latest, delta)
        elif kind == b"message_start":
            message = obj((parse_object(data) or {}).get("message"))
            self._model = text(message.get("model")) or self._model
            self._id = text(message.get("id")) or self._id
            usage = message.get("usage")
            if isinstance(usage, dict):
                self._start = usage

    def _result(self) -> Usage:
        usage = anthropic_usage(merge_latest(self._start, self._latest))
        return finish(usage, model=self._model, response_id=self._id)
