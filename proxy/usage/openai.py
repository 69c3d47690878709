"""OpenAI-shaped responses: chat and legacy completions, embeddings, images (JSON and SSE).

Also the OpenAI-compatible providers' dialects (DeepSeek, Mistral, Cerebras, OpenRouter, Groq…).
"""

from __future__ import annotations

import re
from typing import Final

from .base import Usage
from .fields import finish, obj, openai_usage, text
from .jsonscan import JsonDict, parse_object
from .sse import Event
from .streams import StreamExtractor

#: The top-level members a JSON reader needs.
OPENAI_KEYS: Final = ("usage", "model", "id")
#: Cheap test before any ``json.loads``: only chunks holding a usage *object* are parsed
#: (OpenAI puts ``"usage":null`` on every other chunk once usage is asked for).
_USAGE_OBJECT: Final = re.compile(rb'"usage"\s*:\s*\{')
#: Chunks parsed at the start, for the response's model and id, before giving up on them.
_NAME_PROBES: Final = 3


def read_openai(top: JsonDict) -> Usage:
    return finish(openai_usage(obj(top.get("usage"))),
                  model=text(top.get("model")), response_id=text(top.get("id")))


class OpenAIStreamExtractor(StreamExtractor):
    """``data: {chunk}`` streams ending in ``data: [DONE]``; the latest usage object wins.

    Usage comes on the usage-only chunk (``choices: []``) OpenAI sends when asked, on the last
    content chunk (DeepSeek, Mistral, Cerebras, OpenRouter, Together, unasked), or under
    ``x_groq.usage`` (Groq). The model and id are the first chunk's.
    """

    __slots__ = ("_id", "_model", "_probes", "_usage")

    def __init__(self, *, max_line_bytes: int) -> None:
        super().__init__(max_line_bytes=max_line_bytes)
        self._usage: JsonDict = {}
        self._model: str | None = None
        self._id: str | None = None
        self._probes = _NAME_PROBES

    def _on(self, event: Event) -> None:
        data = event.data
        # find() in C first: most chunks carry no usage key at all, or only "usage":null.
        key = data.find(b'"usage"')
        has_usage = key >= 0 and _USAGE_OBJECT.search(data, key) is not None
        if not has_usage and self._probes <= 0:
            return
        chunk = parse_object(data) if data != b"[DONE]" else None
        if chunk is None:
            self._probes -= 1
            return
        if self._probes > 0:
            self._model = text(chunk.get("model"))
            self._id = text(chunk.get("id"))
            self._probes = 0 if self._model or self._id else self._probes - 1
        if has_usage:
            usage = chunk.get("usage")
            if not isinstance(usage, dict):
                usage = obj(chunk.get("x_groq")).get("usage")
            if isinstance(usage, dict):
                self._usage = usage

    def _result(self) -> Usage:
        return finish(openai_usage(self._usage), model=self._model, response_id=self._id)
