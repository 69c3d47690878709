"""What every mock provider shares: the request it answers, the deterministic usage rules, the
answer text, and JSON/SSE/error framing.

Usage rules (documented so tests can compute expectations independently):
- a text costs ``ceil(characters / 4)`` tokens; a prompt costs the tokens of all its text plus 3
  per message (chat ``messages``, Anthropic ``messages``, Responses ``input`` items), at least 1;
- the answer is ``min(max_tokens, pacing.output_tokens)`` tokens long (``max_tokens``,
  ``max_completion_tokens`` or ``max_output_tokens``), or ``pacing.output_tokens`` when unlimited;
  each answer token is one word of ``WORDS``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ...errors import Shape, error_body
from ...usage.base import MISSING, Usage
from ..reply import Part, Reply
from ..target import Target

WORDS: Final = (" Hello", " from", " the", " local", " Lava", " gateway", ".", " This", " answer",
                " is", " deterministic", ",", " one", " token", " per", " word")
MESSAGE_TOKENS: Final = 3
JSON_TYPE: Final = "application/json"
SSE_TYPE: Final = "text/event-stream; charset=utf-8"
#: Keys whose string values are prompt text, at any depth of a request body.
_TEXT_KEYS: Final = frozenset({"content", "text", "input", "prompt", "instructions", "system"})


@dataclass(frozen=True, slots=True)
class Pacing:
    """How streams are played: content chunks per stream (None: one per token), the pause between
    chunks, and the default answer length."""

    chunks: int | None = None
    delay: float = 0.0
    output_tokens: int = 16


@dataclass(frozen=True, slots=True)
class MockRequest:
    method: str
    target: Target
    headers: Mapping[str, str]
    body: bytes
    doc: dict[str, Any] | None      # the JSON body, when it is a JSON object
    request_id: str
    pacing: Pacing
    now: int                        # unix seconds, for "created" fields

    @property
    def model(self) -> str | None:
        model = self.doc.get("model") if self.doc else None
        return model if isinstance(model, str) else None

    @property
    def stream(self) -> bool:
        return bool(self.doc and self.doc.get("stream") is True)


def tokens_of(text: str) -> int:
    return (len(text) + 3) // 4


def prompt_tokens(doc: Mapping[str, Any], *, messages_key: str = "messages") -> int:
    chars = _text_chars(doc)
    items = doc.get(messages_key)
    count = len(items) if isinstance(items, list) else 0
    return max(1, (chars + 3) // 4 + MESSAGE_TOKENS * count)


def _text_chars(value: object, key: str | None = None) -> int:
    if isinstance(value, str):
        return len(value) if key in _TEXT_KEYS else 0
    if isinstance(value, dict):
        return sum(_text_chars(v, k) for k, v in value.items())
    if isinstance(value, list):  # a list is text when its key is ("input": ["a", "b"])
        return sum(_text_chars(v, key) for v in value)
    return 0


def answer_length(doc: Mapping[str, Any], pacing: Pacing) -> tuple[int, bool]:
    """(output tokens, whether the request's limit cut the answer)."""
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        limit = doc.get(key)
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            return min(limit, pacing.output_tokens), limit <= pacing.output_tokens
    return pacing.output_tokens, False


def answer_pieces(tokens: int, pacing: Pacing) -> list[tuple[str, int]]:
    """The answer split into stream chunks: (text, tokens) each, ``pacing.chunks`` of them at most."""
    if tokens <= 0:
        return []
    count = min(pacing.chunks, tokens) if pacing.chunks else tokens
    base, extra = divmod(tokens, count)
    pieces, word = [], 0
    for i in range(count):
        n = base + (1 if i < extra else 0)
        pieces.append(("".join(_word(word + j) for j in range(n)), n))
        word += n
    return pieces


def answer_text(tokens: int) -> str:
    """The whole answer; equal to the stream's pieces joined."""
    return "".join(_word(i) for i in range(tokens))


def _word(i: int) -> str:
    return WORDS[i % len(WORDS)] if i else WORDS[0].lstrip()


def compact(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def pretty(doc: object) -> bytes:
    """OpenAI answers non-streamed requests with two-space indented JSON (see the recordings)."""
    return json.dumps(doc, indent=2, ensure_ascii=False).encode()


def sse(doc: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + (doc if isinstance(doc, bytes) else compact(doc)) + b"\n\n"


def headers(content_type: str, request_id: str, *, shape: Shape = "openai"
            ) -> tuple[tuple[str, str], ...]:
    """Content type and the provider's own request id header (Anthropic names it differently)."""
    id_header = "request-id" if shape == "anthropic" else "x-request-id"
    # The provider's id is its own, distinct from Lava's x-lava-request-id (as in the recordings).
    own = "req_" + hashlib.sha256(request_id.encode()).hexdigest()[:32]
    return (("Content-Type", content_type), (id_header, own))


def json_reply(req: MockRequest, status: int, body: bytes, *, shape: Shape = "openai",
               usage: Usage = MISSING, reports: bool = True, **kw: Any) -> Reply:
    """A one-part JSON reply; ``reports``: the body states ``usage`` (so a reader finds it)."""
    part = Part(body, usage.output_tokens or 0,
                usage if reports and usage is not MISSING else None)
    return Reply(status, headers(JSON_TYPE, req.request_id, shape=shape), (part,), usage=usage,
                 **kw)


_ERROR_CODES: Final = {400: "invalid_request_error", 401: "invalid_api_key", 403: "forbidden",
                       404: "not_found", 408: "timeout", 409: "conflict", 413: "request_too_large",
                       422: "unprocessable_entity", 429: "rate_limit_exceeded",
                       500: "server_error", 502: "bad_gateway", 503: "service_unavailable",
                       504: "gateway_timeout", 529: "overloaded"}


def error_reply(req: MockRequest, shape: Shape, status: int, message: str,
                code: str | None = None, *, empty: bool = False) -> Reply:
    """A provider-shaped error: OpenAI's ``{"error":{…}}`` or Anthropic's ``{"type":"error",…}``."""
    if empty:
        return Reply(status, headers(JSON_TYPE, req.request_id, shape=shape), ())
    code = code or _ERROR_CODES.get(status, "error")
    return json_reply(req, status, error_body(shape, status, code, message), shape=shape)
