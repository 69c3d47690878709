"""Pure mapping from decoded provider usage objects to ``Usage``, per the conventions in ``base``.

Every reader takes whatever JSON gave it and never raises: a field of the wrong type is absent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Final

from .base import Usage

#: Counts above this are treated as garbage, not as usage (they would poison totals).
MAX_COUNT: Final = 1 << 53
#: Longest model name / response id kept; longer values are dropped, never truncated.
MAX_TEXT: Final = 256
#: An audio duration above a day is not a real transcription.
MAX_SECONDS: Final = 86_400

JsonObject = Mapping[str, object]


def count(value: object) -> int | None:
    """A token count: a non-negative integer (``12.0`` accepted, ``True`` is not a number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_COUNT else None
    if isinstance(value, float) and value.is_integer() and 0 <= value <= MAX_COUNT:
        return int(value)
    return None


def text(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_TEXT else None


def seconds(value: object) -> Decimal | None:
    """An audio duration in seconds, exactly as the provider wrote it (``7`` or ``7.25``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if not 0 <= value <= MAX_SECONDS:
        return None
    try:
        # str() first: Decimal(7.1) would carry the binary float's 50 digits.
        return Decimal(str(value))
    except InvalidOperation:
        return None


def obj(value: object) -> JsonObject:
    return value if isinstance(value, dict) else {}


def has_counts(u: Usage) -> bool:
    return any(v is not None for v in (
        u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens,
        u.reasoning_tokens, u.tool_prompt_tokens, u.input_characters, u.audio_seconds))


def finish(u: Usage, *, model: str | None, response_id: str | None) -> Usage:
    """Attach the response's names and say where the numbers came from."""
    return Usage(
        input_tokens=u.input_tokens, output_tokens=u.output_tokens,
        cache_read_tokens=u.cache_read_tokens, cache_write_tokens=u.cache_write_tokens,
        reasoning_tokens=u.reasoning_tokens, tool_prompt_tokens=u.tool_prompt_tokens,
        input_characters=u.input_characters, audio_seconds=u.audio_seconds, model=model,
        response_id=response_id, source="provider" if has_counts(u) else "missing",
        modality_tokens=u.modality_tokens)


def _first(*values: object) -> int | None:
    for v in values:
        c = count(v)
        if c is not None:
            return c
    return None


def openai_usage(u: JsonObject, *, model: str | None = None, response_id: str | None = None,
                 named: bool = False) -> Usage:
    """OpenAI-shaped usage, in all its dialects. ``named``: the finished ``Usage`` (``finish``
    with ``model`` and ``response_id``), built once rather than twice: this runs per response.

    Chat/completions/embeddings say ``prompt_tokens``/``completion_tokens``; Responses, images and
    token-billed audio say ``input_tokens``/``output_tokens``. Cached reads are
    ``*_details.cached_tokens`` (DeepSeek also: ``prompt_cache_hit_tokens``), cache writes
    ``*_details.cache_write_tokens`` (OpenRouter, Responses); reasoning is
    ``*_details.reasoning_tokens`` (Together: ``usage.reasoning_tokens``). All of these are
    already parts of the prompt/completion totals. Whisper-style audio says
    ``{"type": "duration", "seconds": 7}``.
    """
    if u.get("type") == "duration":
        usage = Usage(audio_seconds=seconds(u.get("seconds")))
        return finish(usage, model=model, response_id=response_id) if named else usage
    d_in = obj(u.get("prompt_tokens_details")) or obj(u.get("input_tokens_details"))
    d_out = obj(u.get("completion_tokens_details")) or obj(u.get("output_tokens_details"))
    inp = _first(u.get("prompt_tokens"), u.get("input_tokens"))
    out = _first(u.get("completion_tokens"), u.get("output_tokens"))
    read = _first(d_in.get("cached_tokens"), u.get("prompt_cache_hit_tokens"))
    write = count(d_in.get("cache_write_tokens"))
    reasoning = _first(d_out.get("reasoning_tokens"), u.get("reasoning_tokens"))
    if not named:
        return Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=read,
                     cache_write_tokens=write, reasoning_tokens=reasoning)
    counted = inp is not None or out is not None or read is not None or write is not None \
        or reasoning is not None
    return Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=read,
                 cache_write_tokens=write, reasoning_tokens=reasoning, model=model,
                 response_id=response_id, source="provider" if counted else "missing")


def anthropic_usage(u: JsonObject) -> Usage:
    """Anthropic usage: input is ``input_tokens`` plus cache reads plus cache writes.

    Anthropic's ``input_tokens`` counts only the uncached part, so the three are summed to get
    the conventional total; ``output_tokens_details.thinking_tokens`` is part of output.
    """
    base = count(u.get("input_tokens"))
    read = count(u.get("cache_read_input_tokens"))
    write = count(u.get("cache_creation_input_tokens"))
    parts = [p for p in (base, read, write) if p is not None]
    return Usage(
        input_tokens=sum(parts) if parts else None,
        output_tokens=count(u.get("output_tokens")),
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=count(obj(u.get("output_tokens_details")).get("thinking_tokens")),
    )


def merge_latest(base: JsonObject, update: JsonObject) -> dict[str, object]:
    """``base`` with every field ``update`` reports (not null) replacing it: latest wins."""
    merged = dict(base)
    for key, value in update.items():
        if value is not None:
            merged[key] = value
    return merged
