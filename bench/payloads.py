"""The bytes of the benchmark: request bodies, the chat JSON reply and the SSE frames, built once.

Shared by the fake upstream (which serves them) and the stream client (which checks what arrived),
so every target is fed, and judged on, exactly the same content.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

MODEL = "gpt-4o-mini"
#: A model name the fake answers with a long, slowly paced stream (the 1,000-open-streams phase).
HOLD_MODEL = "bench-hold"
#: A model name the fake answers with the usual 64-chunk stream paced at its fast interval (2 ms):
#: the stream-CPU phase, where what is measured is the work per chunk, not the pacing.
FAST_MODEL = "bench-fast"
_RESP_MODEL = "gpt-4o-mini-2024-07-18"
_ID = "chatcmpl-BENCHx9c2a7f1e0d3b4c5a6e8f"
_CREATED = 1755137933
_WORDS = ("The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "while", "the", "sidecar",
          "meters", "every", "token", "it", "relays", "between", "the", "application", "and", "the",
          "model", "provider", "behind", "Lava's", "gateway")
#: 64 tokens: a stream's content, one per SSE chunk.
STREAM_TOKENS: tuple[str, ...] = tuple(
    (" " if i else "") + _WORDS[i % len(_WORDS)] for i in range(64))

_SYSTEM = ("You are a concise assistant for a customer-support team. Answer in plain English, "
           "cite the relevant policy section when you can, and never invent order numbers.")


def request_body(*, stream: bool, model: str = MODEL) -> bytes:
    """A realistic chat request (~400 bytes). Streams do not ask for usage: the sidecar adds that."""
    doc: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": _SYSTEM},
            {"role": "user", "content": "My parcel shows as delivered but it is not here. "
                                        "What should I do, and how long does a refund take?"},
        ],
        "temperature": 0.2,
        "max_tokens": 400,
    }
    if stream:
        doc["stream"] = True
    return json.dumps(doc, separators=(",", ":")).encode()


def _usage(completion: int) -> dict[str, object]:
    return {
        "prompt_tokens": 61, "completion_tokens": completion, "total_tokens": 61 + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def chat_json() -> bytes:
    """A non-streaming chat.completion of realistic size (~1.5 KB) with a ``usage`` object."""
    content = ("I'm sorry your parcel hasn't arrived even though it shows as delivered. Please check "
               "around your property and with neighbours first, as carriers sometimes leave parcels "
               "in a safe place. If it still cannot be found within 24 hours, reply here with your "
               "order number and we will open a carrier investigation (policy section 4.2). Once the "
               "investigation confirms the loss, which usually takes 2-3 business days, we either "
               "send a replacement at no cost or issue a full refund to your original payment method. "
               "Refunds normally appear within 5-10 business days depending on your bank. In the "
               "meantime, keep any delivery notifications you received; they help the carrier trace "
               "the parcel faster. Is there anything else I can help you with today?")
    doc = {
        "id": _ID, "object": "chat.completion", "created": _CREATED, "model": _RESP_MODEL,
        "choices": [{"index": 0,
                     "message": {"role": "assistant", "content": content, "refusal": None,
                                 "annotations": []},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(142), "service_tier": "default", "system_fingerprint": "fp_bench0001",
    }
    return json.dumps(doc, indent=2).encode()


def _chunk(delta: dict[str, object], finish: str | None, with_usage_field: bool) -> bytes:
    doc: dict[str, object] = {
        "id": _ID, "object": "chat.completion.chunk", "created": _CREATED, "model": _RESP_MODEL,
        "service_tier": "default", "system_fingerprint": "fp_bench0001",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if with_usage_field:
        # OpenAI puts "usage": null on every chunk but the last once include_usage is set.
        doc["usage"] = None
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


def _usage_chunk(completion: int) -> bytes:
    doc = {"id": _ID, "object": "chat.completion.chunk", "created": _CREATED, "model": _RESP_MODEL,
           "service_tier": "default", "system_fingerprint": "fp_bench0001", "choices": [],
           "usage": _usage(completion)}
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


@dataclass(frozen=True, slots=True)
class StreamScript:
    """The SSE body as a list of writes, one per tick: write ``i`` goes out at ``i * interval``."""

    writes: tuple[bytes, ...]


def stream_script(tokens: tuple[str, ...], *, include_usage: bool) -> StreamScript:
    """One content chunk per token, OpenAI's exact chunk shape; the last write also carries the
    finish chunk, the usage-only chunk (when asked for) and ``data: [DONE]``."""
    writes: list[bytes] = []
    for i, token in enumerate(tokens):
        delta: dict[str, object] = {"role": "assistant", "content": token} if i == 0 else {"content": token}
        writes.append(_chunk(delta, None, include_usage))
    tail = _chunk({}, "stop", include_usage)
    if include_usage:
        tail += _usage_chunk(len(tokens))
    writes[-1] += tail + b"data: [DONE]\n\n"
    return StreamScript(tuple(writes))


def stream_events(*, include_usage: bool) -> int:
    """SSE events in the 64-token stream: a chunk per token, the finish chunk, the usage-only chunk
    when asked for, and ``[DONE]`` (the unit of the per-chunk CPU figure)."""
    return len(STREAM_TOKENS) + 2 + include_usage


def hold_tokens(count: int) -> tuple[str, ...]:
    """Tokens of the long stream held open in the memory phase."""
    return tuple((" " if i else "") + "tick" for i in range(max(count, 1)))


# -- Google's native Gemini API (streamGenerateContent?alt=sse) -------------------------------------

#: A thinking model: its chunks carry ``thoughtsTokenCount`` (billed as output) beside the candidates.
GEMINI_MODEL = "gemini-2.5-flash"
_GEMINI_RESPONSE_ID = "BENCHqSYaapLxNq-d-8YPte"
_GEMINI_PROMPT_TOKENS = 61
#: What the model thought before it answered: in every chunk's usage, billed as output.
GEMINI_THOUGHTS_TOKENS = 412


def gemini_path(model: str = GEMINI_MODEL) -> str:
    """The streaming method's path and query, as Google serves it (the sidecar's is ``/gemini`` +)."""
    return f"/v1beta/models/{model}:streamGenerateContent?alt=sse"


def gemini_request_body() -> bytes:
    """The request as google-genai 3.x writes it for ``generate_content_stream`` with a system
    instruction, a temperature and a token cap: ``json.dumps`` with its default separators, in its
    key order (captured from the SDK against a loopback server)."""
    doc = {
        "contents": [{"parts": [{"text": "My parcel shows as delivered but it is not here. "
                                         "What should I do, and how long does a refund take?"}],
                      "role": "user"}],
        "systemInstruction": {"parts": [{"text": _SYSTEM}], "role": "user"},
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 400},
    }
    return json.dumps(doc).encode()


def _thought_signature() -> str:
    """An opaque base64 signature of the size the recordings' final chunks carry (~800 chars);
    made up, deterministic."""
    seed, raw = b"lava-sidecar bench", b""
    while len(raw) < 600:
        seed = hashlib.sha256(seed).digest()
        raw += seed
    return base64.b64encode(raw[:600]).decode()


def gemini_usage(candidates: int) -> dict[str, object]:
    """The cumulative ``usageMetadata`` a thinking model's chunk carries, members in Google's order."""
    return {"promptTokenCount": _GEMINI_PROMPT_TOKENS, "candidatesTokenCount": candidates,
            "totalTokenCount": _GEMINI_PROMPT_TOKENS + candidates + GEMINI_THOUGHTS_TOKENS,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": _GEMINI_PROMPT_TOKENS}],
            "thoughtsTokenCount": GEMINI_THOUGHTS_TOKENS, "serviceTier": "standard"}


def _gemini_chunk(part: dict[str, str], candidates: int, *, finish: bool) -> bytes:
    candidate: dict[str, object] = {"content": {"parts": [part], "role": "model"}}
    if finish:
        candidate["finishReason"] = "STOP"
    candidate["index"] = 0
    doc = {"candidates": [candidate], "usageMetadata": gemini_usage(candidates),
           "modelVersion": GEMINI_MODEL, "responseId": _GEMINI_RESPONSE_ID}
    # Google's separators: "," between members, ": " after a key; each event ends in CRLF CRLF.
    return b"data: " + json.dumps(doc, separators=(",", ": ")).encode() + b"\r\n\r\n"


def gemini_stream_script(tokens: tuple[str, ...]) -> StreamScript:
    """One chunk per token, Gemini's exact wire format (tests/data/recorded/genai/gemini/*/GenStream-*):
    every chunk with the cumulative ``usageMetadata``; the last write also carries the final chunk
    (empty text, the thought signature, ``finishReason: STOP``), as a thinking model ends. Gemini
    sends no ``[DONE]``: the stream ends with the response."""
    writes = [_gemini_chunk({"text": token}, i + 1, finish=False) for i, token in enumerate(tokens)]
    writes[-1] += _gemini_chunk({"text": "", "thoughtSignature": _thought_signature()}, len(tokens),
                                finish=True)
    return StreamScript(tuple(writes))


def gemini_stream_events() -> int:
    """SSE events in the 64-token Gemini stream: a chunk per token and the final chunk (the unit of
    the per-chunk CPU figure; the sidecar adds nothing to a Gemini stream)."""
    return len(STREAM_TOKENS) + 1


_ANTHROPIC_ID = "msg_01BENCHx9c2a7f1e0d3b4c5a"


def _anthropic_event(name: str, doc: dict[str, object]) -> bytes:
    return f"event: {name}\ndata: ".encode() + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


def anthropic_stream_script(tokens: tuple[str, ...]) -> StreamScript:
    """One ``content_block_delta`` per token, Anthropic's exact event shapes
    (tests/data/recorded/genai/anthropic/*/GenStream-Text): the first write also carries
    ``message_start`` (the input usage) and ``content_block_start``, the last ``content_block_stop``,
    ``message_delta`` (the cumulative usage) and ``message_stop``."""
    usage = {"input_tokens": 46, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
             "output_tokens": 1, "service_tier": "standard"}
    writes = [_anthropic_event("content_block_delta", {
        "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": token}})
        for token in tokens]
    writes[0] = _anthropic_event("message_start", {"type": "message_start", "message": {
        "model": "claude-haiku-4-5-20251001", "id": _ANTHROPIC_ID, "type": "message",
        "role": "assistant", "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": usage}}) + _anthropic_event("content_block_start", {
            "type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}) + writes[0]
    writes[-1] += (_anthropic_event("content_block_stop", {"type": "content_block_stop", "index": 0})
                   + _anthropic_event("message_delta", {
                       "type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                       "usage": {**usage, "output_tokens": len(tokens)}})
                   + _anthropic_event("message_stop", {"type": "message_stop"}))
    return StreamScript(tuple(writes))


def anthropic_stream_events() -> int:
    """SSE events in the 64-token Anthropic stream: a delta per token, the start, the block's
    start and stop, the message delta and stop."""
    return len(STREAM_TOKENS) + 5

