"""Google's native Gemini API: usage from ``usageMetadata`` in JSON bodies, SSE and JSON-array streams.

The mapping, in ``base``'s conventions:
- input = ``promptTokenCount`` (cached content included, per Google) + ``toolUsePromptTokenCount``;
- output = ``candidatesTokenCount`` + ``thoughtsTokenCount``: thinking is billed as output but is
  not part of the candidates count, and readers that take only the latter undercount thinking
  models 5-25x (librefang/librefang#3479, danny-avila/LibreChat#12855);
- reasoning = ``thoughtsTokenCount``, cache read = ``cachedContentTokenCount``, tool prompt =
  ``toolUsePromptTokenCount``; the ``*TokensDetails`` lists give the per-modality breakdown.

``promptTokenCount`` is left out when the prompt is a file URL (seen in the recordings) while
``totalTokenCount`` still counts it; total = prompt + candidates + thoughts + tool-use prompt holds in
every recording that has all of them, so the prompt is then the total less the others.

Every streamed chunk carries the cumulative ``usageMetadata`` so far: the last one wins, nothing is
summed. The pure functions here are what a stream reader needs (``carries_usage``, a bytes test per
event; ``read_event``, one event's usage); ``GeminiStreamExtractor`` is the family's hook on
``streams.StreamExtractor`` (one split per stream, a prefilter per raw event): it keeps the last
event that carries usage and parses it once, at the end.
"""

from __future__ import annotations

import json
import re
from typing import Final

from .base import MISSING, MODALITIES, Api, RequestFacts, Usage
from .fields import JsonObject, count, finish, obj, text
from .jsonbody import DEFAULT_MAX_JSON_BYTES, JsonExtractor
from .jsonscan import JsonDict, parse_object, tail_members
from .streams import StreamExtractor

#: The top-level members of a response that a reader needs.
GEMINI_KEYS: Final = ("usageMetadata", "modelVersion", "responseId")
_KEY: Final = b'"usageMetadata"'
#: The key with an object value. Inside a JSON string a quote is escaped, so ``"usageMetadata"``
#: with both quotes bare only matches a key (or the exact string value), never text content.
_USAGE_OBJECT: Final = re.compile(rb'"usageMetadata"\s*:\s*\{')
#: ``*TokensDetails`` list → the part of usage it breaks down (base.MODALITY_PARTS).
_DETAILS: Final = (("promptTokensDetails", "input"), ("cacheTokensDetails", "cache_read"),
                   ("toolUsePromptTokensDetails", "tool_prompt"),
                   ("candidatesTokensDetails", "output"))
_WS: Final = b" \t\r\n"
#: ``models/{model}:{method}`` → the API it is and whether it streams.
_METHODS: Final[dict[str, tuple[Api, bool]]] = {
    "generateContent": (Api.GENERATE_CONTENT, False),
    "streamGenerateContent": (Api.GENERATE_CONTENT, True),
    "countTokens": (Api.COUNT_TOKENS, False),
    "embedContent": (Api.EMBEDDINGS, False),
    "batchEmbedContents": (Api.EMBEDDINGS, False),
}
#: Collections whose members are models a method is called on.
_MODEL_COLLECTIONS: Final = frozenset({"models", "tunedModels"})


def path_facts(path: str) -> RequestFacts:
    """What a Gemini path says (``/v1beta/models/gemini-2.5-flash:streamGenerateContent``, the
    query left off): the API, the model and whether it streams. The body is never read for them.
    A method not listed here is ``Api.OTHER``: forwarded and recorded, never refused."""
    parts = path.strip("/").split("/")
    # parts: [version, collection, "{id}:{method}"] or [version, collection(, id)] for GETs
    api, model, stream = Api.OTHER, None, False
    if len(parts) == 3 and parts[1] in _MODEL_COLLECTIONS:
        name, colon, method = parts[2].partition(":")
        if colon:
            api, stream = _METHODS.get(method, (Api.OTHER, False))
        else:
            api = Api.MODELS
        model = text(name if parts[1] == "models" else f"{parts[1]}/{name}")
    elif len(parts) == 2 and parts[1] == "models":
        api = Api.MODELS
    return RequestFacts(api=api, model=model, stream=stream)


def _add(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def usage_of(meta: JsonObject) -> Usage:
    """The counts one ``usageMetadata`` object states (no names, no source: see ``read_gemini``)."""
    prompt = count(meta.get("promptTokenCount"))
    candidates = count(meta.get("candidatesTokenCount"))
    thoughts = count(meta.get("thoughtsTokenCount"))
    tool = count(meta.get("toolUsePromptTokenCount"))
    if prompt is None:
        total = count(meta.get("totalTokenCount"))
        if total is not None:
            rest = total - (candidates or 0) - (thoughts or 0) - (tool or 0)
            prompt = rest if rest >= 0 else None
    return Usage(
        input_tokens=_add(prompt, tool),
        output_tokens=_add(candidates, thoughts),
        cache_read_tokens=count(meta.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
        tool_prompt_tokens=tool,
        modality_tokens=modality_tokens(meta),
    )


def modality_tokens(meta: JsonObject) -> tuple[tuple[str, str, int], ...]:
    """``(part, modality, tokens)`` from the ``*TokensDetails`` lists; unknown modalities are left
    out (the set is fixed so the usage line stays bounded)."""
    out: list[tuple[str, str, int]] = []
    for key, part in _DETAILS:
        entries = meta.get(key)
        if not isinstance(entries, list):
            continue
        seen: dict[str, int] = {}
        for entry in entries[:len(MODALITIES) * 2]:
            e = obj(entry)
            modality = e.get("modality")
            tokens = count(e.get("tokenCount"))
            if not isinstance(modality, str) or tokens is None:
                continue
            name = modality.lower()
            if name in MODALITIES:
                seen[name] = seen.get(name, 0) + tokens
        out.extend((part, name, tokens) for name, tokens in sorted(seen.items()))
    return tuple(out)


def read_gemini(top: JsonDict) -> Usage:
    """A ``GenerateContentResponse`` (or an embedding response) → ``Usage`` with its names."""
    return finish(usage_of(obj(top.get("usageMetadata"))),
                  model=text(top.get("modelVersion")), response_id=text(top.get("responseId")))


def carries_usage(data: bytes) -> bool:
    """Whether an event's data holds a ``usageMetadata`` object: a bytes test, no JSON decoding.
    ``rfind``: the object closes each chunk, after the candidates."""
    key = data.rfind(_KEY)
    return key >= 0 and _USAGE_OBJECT.match(data, key) is not None


def read_event(data: bytes) -> Usage | None:
    """One streamed chunk's usage, or None when it holds no ``usageMetadata`` object."""
    chunk = parse_object(data)
    if chunk is None or not isinstance(chunk.get("usageMetadata"), dict):
        return None
    return read_gemini(chunk)


def read_array(doc: bytes) -> JsonDict:
    """``streamGenerateContent`` without ``alt=sse`` answers one JSON array of chunks: the last
    chunk with a ``usageMetadata`` object is the one to read (``{}`` if none)."""
    try:
        value = json.loads(doc)
    except (ValueError, RecursionError):
        return {}
    if isinstance(value, list):
        for item in reversed(value):
            if isinstance(item, dict) and isinstance(item.get("usageMetadata"), dict):
                return item
    return {}


class GeminiJsonExtractor(JsonExtractor):
    """A JSON body: one response object, or (a stream without ``alt=sse``) an array of them."""

    __slots__ = ()

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_JSON_BYTES) -> None:
        super().__init__(read_gemini, GEMINI_KEYS, max_bytes=max_bytes)

    def _members(self) -> JsonDict:
        pieces = (self._head,) if self._truncated else self._parts
        first = next((p.lstrip(_WS)[:1] for p in pieces if p.strip(_WS)), b"")
        if first != b"[":
            return super()._members()
        if not self._truncated:
            return read_array(b"".join(self._parts))
        # Only the tail is left: the last chunk's members, once the array's "]" is taken off.
        tail = b"".join(self._tail).rstrip(_WS)
        return tail_members(tail[:-1] if tail.endswith(b"]") else tail, GEMINI_KEYS)


class GeminiStreamExtractor(StreamExtractor):
    """``streamGenerateContent?alt=sse``: ``data: {chunk}`` events, CRLF-delimited, each with the
    cumulative ``usageMetadata``. Per event only ``carries_usage`` runs and the data is kept (a
    reference, no copy); the last such event is parsed once in ``finish``, so a stream cut short
    still reports what its last whole chunk said. The one before it is kept too, in case the
    last does not parse."""

    __slots__ = ("_last", "_prev")

    def __init__(self, *, max_line_bytes: int) -> None:
        super().__init__(max_line_bytes=max_line_bytes)
        self._last = self._prev = b""

    def feed(self, chunk: bytes) -> None:
        # Google's every read: one ``data: {chunk}`` line ended by CRLF CRLF, carrying the
        # cumulative usage. What ``take`` would do with it (the event's data kept if it carries
        # usage), done here: the general path costs a call and a decode per event on top. (The
        # CRLF case of ``events.one_line_event``, inlined with the space after ``data:``, so that
        # the data is the slice between them.)
        n = len(chunk)
        if n <= self._max and chunk.startswith(b"data: ") and chunk.endswith(b"\r\n\r\n") \
                and chunk.find(b"\n") == n - 3 and chunk.find(b"\r") == n - 4 and self._started \
                and self._split.clear:
            data = chunk[6:n - 4]
            if carries_usage(data):
                self._prev, self._last = self._last, data
            return
        super().feed(chunk)

    def wants(self, raw: bytes) -> bool:
        return raw.rfind(_KEY) >= 0  # the exact test is on the data (``on_event``)

    def on_event(self, name: bytes, data: bytes) -> None:
        if carries_usage(data):
            self._prev, self._last = self._last, data

    def _result(self) -> Usage:
        for data in (self._last, self._prev):
            if data:
                usage = read_event(data)
                if usage is not None:
                    return usage
        return MISSING
