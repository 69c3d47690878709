"""OpenAI-shaped responses: chat and legacy completions, embeddings, images (JSON and SSE).

Also the OpenAI-compatible providers' dialects (DeepSeek, Mistral, Cerebras, OpenRouter, Groq…).
"""

from __future__ import annotations

import re
from typing import Final

from .base import Usage
from .fields import obj, openai_usage, text
from .jsonscan import JsonDict, parse_object
from .streams import StreamExtractor

#: The top-level members a JSON reader needs.
OPENAI_KEYS: Final = ("usage", "model", "id")
#: Cheap test before any ``json.loads``: only chunks holding a usage *object* are parsed
#: (OpenAI puts ``"usage":null`` on every other chunk once usage is asked for).
_USAGE_OBJECT: Final = re.compile(rb'"usage"\s*:\s*\{')
#: The first events of a stream, kept to name the response if no usage chunk does.
_NAME_PROBES: Final = 3
#: An early event bigger than this is read for names at once instead of being kept.
_HOLD_MAX: Final = 8192


def read_openai(top: JsonDict) -> Usage:
    return openai_usage(obj(top.get("usage")), model=text(top.get("model")),
                        response_id=text(top.get("id")), named=True)


def chunk_usage(chunk: JsonDict) -> JsonDict | None:
    """A chunk's usage object: ``usage``, or Groq's ``x_groq.usage``."""
    usage = chunk.get("usage")
    if not isinstance(usage, dict):
        usage = obj(chunk.get("x_groq")).get("usage")
    return usage if isinstance(usage, dict) else None


def _names(chunk: JsonDict) -> tuple[str | None, str | None]:
    return text(chunk.get("model")), text(chunk.get("id"))


class OpenAIStreamExtractor(StreamExtractor):
    """``data: {chunk}`` streams ending in ``data: [DONE]``; the latest usage object wins.

    Usage comes on the usage-only chunk (``choices: []``) OpenAI sends when asked, on the last
    content chunk (DeepSeek, Mistral, Cerebras, OpenRouter, Together, unasked), or under
    ``x_groq.usage`` (Groq). Only chunks holding a usage object are parsed while the stream
    flows, each once. The response's model and id are the first chunk's (Groq's usage chunk
    says ``"id":"stub"``): the first events are kept unparsed and read once, at the end.
    """

    __slots__ = ("_early", "_id", "_model", "_named", "_probes", "_usage", "last")

    def __init__(self, *, max_line_bytes: int) -> None:
        super().__init__(max_line_bytes=max_line_bytes)
        self._usage: JsonDict = {}
        self._model: str | None = None
        self._id: str | None = None
        self._named = False  # the names are settled (the early events were read)
        self._probes = _NAME_PROBES
        self._early: list[bytes] = []
        #: The chunk the last ``on_event`` parsed (None: it parsed nothing): the stripper decides
        #: from it whether a usage chunk is the usage-only one, without parsing it again.
        self.last: JsonDict | None = None

    @property
    def probing(self) -> bool:
        """The first events are still being kept (to name the response): every one is wanted."""
        return self._probes > 0

    def wants(self, raw: bytes) -> bool:
        if self._probes > 0:
            return True
        key = raw.find(b'"usage"')
        return key >= 0 and _USAGE_OBJECT.search(raw, key) is not None

    def on_event(self, name: bytes, data: bytes) -> None:
        self.last = None
        key = data.find(b'"usage"')
        has_usage = key >= 0 and _USAGE_OBJECT.search(data, key) is not None
        probing = self._probes > 0
        if probing:
            self._probes -= 1
            if not has_usage:
                self._hold(data)
                return
        elif not has_usage:
            return
        chunk = self.last = parse_object(data)
        if probing and not self._named:
            # A usage chunk among the first events: the ones before it name the response first.
            self._settle_names(chunk)
        if chunk is None:
            return
        usage = chunk_usage(chunk)
        if usage is not None:
            self._usage = usage

    def _hold(self, data: bytes) -> None:
        if self._named:
            return
        if len(data) <= _HOLD_MAX:
            self._early.append(data)
        else:
            # Too big to keep for the stream's life: read it (and those before it) now.
            self._settle_names(parse_object(data) if data != b"[DONE]" else None)

    def _settle_names(self, then: JsonDict | None) -> None:
        """The names from the first early chunk that parses and names the response, else from
        ``then`` (the chunk after them); settled once any chunk names it, or at the end."""
        early, self._early = self._early, []
        for data in early:
            chunk = parse_object(data) if data != b"[DONE]" else None
            if chunk is not None:
                model, rid = _names(chunk)
                if model or rid:
                    self._model, self._id, self._named = model, rid, True
                    return
        if then is not None:
            self._model, self._id = _names(then)
            self._named = bool(self._model or self._id)

    def _result(self) -> Usage:
        if not self._named and self._early:
            self._settle_names(None)
        return openai_usage(self._usage, model=self._model, response_id=self._id, named=True)
