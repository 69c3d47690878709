"""A labelled guess for responses that reported no usage (config ``estimate_missing_usage``), and
the same guess before a request leaves (``ask``: what a quota reserves).

Deliberately simple: input tokens ≈ prompt text characters / 4, output not guessed at all (a
reservation takes the request's own output cap instead).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from .base import Api, RequestFacts, Usage
from .jsonscan import parse_object

CHARS_PER_TOKEN: Final = 4
#: Members whose strings are prompt text. Everything else (ids, roles, URLs, base64 images or
#: audio under ``image_url``/``data``/``input_audio``) is not counted.
_TEXT_KEYS: Final = frozenset({
    "content", "text", "input", "prompt", "system", "instructions", "messages", "arguments",
})
_MAX_DEPTH: Final = 32
_MAX_NODES: Final = 100_000
#: Estimates are for prompts; a body above this is not walked (it is a file upload or a batch).
_MAX_BODY: Final = 8 << 20
_ESTIMABLE: Final = frozenset({Api.CHAT, Api.COMPLETIONS, Api.EMBEDDINGS, Api.RESPONSES,
                               Api.MESSAGES, Api.GENERATE_CONTENT})


def estimate(facts: RequestFacts, request_body: bytes, usage: Usage) -> Usage:
    """``usage`` itself when it has provider counts; otherwise a guess of the input, if any.

    Characters / 4 is OpenAI's own rule of thumb for English, rounded up. Output is not guessed:
    the extractors keep no response text, and hidden reasoning tokens could not be seen anyway
    (why LiteLLM's tiktoken estimates undercount reasoning models, reference/peers.md 2b). The
    result says ``source="estimated"`` so nobody mistakes it for a provider's count.
    """
    if usage.source == "provider" or facts.api not in _ESTIMABLE or len(request_body) > _MAX_BODY:
        return usage
    doc = parse_object(request_body)
    if doc is None:
        return usage
    chars = _text_chars(doc)
    if not chars:
        return usage
    return Usage(input_tokens=-(-chars // CHARS_PER_TOKEN), model=usage.model or facts.model,
                 response_id=usage.response_id, source="estimated")


@dataclass(frozen=True, slots=True)
class Ask:
    """What a request about to leave asks for, as far as its body says: a quota reservation."""

    input_tokens: int  # prompt text characters / 4, rounded up (0: nothing readable)
    max_output_tokens: int | None  # max_tokens / max_completion_tokens / max_output_tokens


NOTHING: Final = Ask(0, None)
_DECODER: Final = json.JSONDecoder()
_CAPS: Final = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def ask(facts: RequestFacts, request_body: bytes) -> Ask:
    """Only when a quota needs it (token or spend limits): the same characters / 4 guess as
    ``estimate``, and the largest output cap the request names. A small body was parsed whole
    by ``inspect`` already (``facts.doc``); a larger one is parsed here."""
    if facts.api not in _ESTIMABLE:
        return NOTHING
    doc = facts.doc if facts.doc is not None else _parse(request_body)
    if doc is None:
        return NOTHING
    caps = [v for k in _CAPS if isinstance(v := doc.get(k), int) and not isinstance(v, bool) and v >= 0]
    config = doc.get("generationConfig")  # Gemini names its cap one level down
    if isinstance(config, dict) and isinstance(v := config.get("maxOutputTokens"), int) \
            and not isinstance(v, bool) and v >= 0:
        caps.append(v)
    return Ask(-(-_text_chars(doc) // CHARS_PER_TOKEN), max(caps) if caps else None)


def _parse(request_body: bytes) -> dict[str, object] | None:
    if not request_body or len(request_body) > _MAX_BODY:
        return None
    try:
        # raw_decode of the text: ~1.5 µs for a 400-byte chat body against ~2.6 for json.loads of
        # the bytes (encoding detection, end check); what follows the object does not matter here.
        text = request_body.decode()
        doc, _ = _DECODER.raw_decode(text, len(text) - len(text.lstrip()))
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _text_chars(doc: dict[str, object]) -> int:
    total = 0
    budget = _MAX_NODES
    # (container, depth, under a text member?) — iterative, so deep bodies cannot recurse us out;
    # strings and numbers are read where they are found, never pushed (a quota estimate runs
    # this on every request it limits).
    stack: list[tuple[dict[str, object] | list[object], int, bool]] = [(doc, 0, False)]
    while stack and budget > 0:
        container, depth, is_text = stack.pop()
        deeper = depth + 1 < _MAX_DEPTH
        if isinstance(container, dict):
            for k, v in container.items():
                budget -= 1
                if isinstance(v, str):
                    if k in _TEXT_KEYS:
                        total += len(v)
                elif deeper and isinstance(v, dict | list):
                    stack.append((v, depth + 1, k in _TEXT_KEYS))
        else:
            for v in container:
                budget -= 1
                if isinstance(v, str):
                    if is_text:
                        total += len(v)
                elif deeper and isinstance(v, dict | list):
                    stack.append((v, depth + 1, is_text))
    return total
