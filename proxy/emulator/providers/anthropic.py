"""Mock Anthropic API: ``/v1/messages`` (JSON and SSE), ``/v1/messages/count_tokens``,
``/v1/models``.

The stream is the real sequence (genai/anthropic recordings): ``message_start`` (input tokens,
``output_tokens`` 1), ``content_block_start``, ``ping``, ``content_block_delta``…,
``content_block_stop``, one ``message_delta`` whose ``usage`` is cumulative (the totals, input
included, as the API sends now), ``message_stop``.
"""

from __future__ import annotations

from typing import Any, Final

from ...usage.base import MISSING, Usage
from ..ids import suffix
from ..reply import Part, Reply
from .common import (
    SSE_TYPE,
    MockRequest,
    answer_length,
    answer_pieces,
    answer_text,
    compact,
    error_reply,
    headers,
    json_reply,
    prompt_tokens,
    sse,
)

MODELS: Final = (("claude-opus-5", "Claude Opus 5"), ("claude-sonnet-5", "Claude Sonnet 5"),
                 ("claude-haiku-4-5", "Claude Haiku 4.5"),
                 ("claude-haiku-4-5-20251001", "Claude Haiku 4.5"))
CREATED_AT: Final = "2025-05-14T00:00:00Z"


def _checked(req: MockRequest, *, needs_max_tokens: bool) -> Reply | None:
    doc = req.doc
    if doc is None or req.model is None:
        return error_reply(req, "anthropic", 400, "model: Field required")
    if needs_max_tokens and not isinstance(doc.get("max_tokens"), int):
        return error_reply(req, "anthropic", 400, "max_tokens: Field required")
    if not isinstance(doc.get("messages"), list) or not doc["messages"]:
        return error_reply(req, "anthropic", 400, "messages: Field required")
    return None


def _usage_doc(inp: int, out: int) -> dict[str, Any]:
    return {"input_tokens": inp, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": out, "service_tier": "standard"}


def messages(req: MockRequest) -> Reply:
    refused = _checked(req, needs_max_tokens=True)
    if refused is not None:
        return refused
    doc, model = req.doc or {}, req.model or ""
    inp = prompt_tokens(doc)
    out, cut = answer_length(doc, req.pacing)
    mid = "msg_" + suffix(req.request_id)
    stop = "max_tokens" if cut else "end_turn"

    def usage(output: int) -> Usage:
        return Usage(input_tokens=inp, output_tokens=output, cache_read_tokens=0,
                     cache_write_tokens=0, model=model, response_id=mid, source="provider")

    head = {"model": model, "id": mid, "type": "message", "role": "assistant"}
    if not req.stream:
        body = {**head, "content": [{"type": "text", "text": answer_text(out)}],
                "stop_reason": stop, "stop_sequence": None, "usage": _usage_doc(inp, out)}
        return json_reply(req, 200, compact(body), shape="anthropic", usage=usage(out),
                          model=model, response_id=mid)
    start: dict[str, Any] = {**head, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": _usage_doc(inp, 1)}
    parts = [Part(sse({"type": "message_start", "message": start}, "message_start"),
                  reports=usage(1)),
             Part(sse({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}}, "content_block_start")),
             Part(sse({"type": "ping"}, "ping"))]
    parts += [Part(sse({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": text}}, "content_block_delta"), n)
              for text, n in answer_pieces(out, req.pacing)]
    final = {k: v for k, v in _usage_doc(inp, out).items()
             if k not in ("cache_creation", "service_tier")}
    parts += [Part(sse({"type": "content_block_stop", "index": 0}, "content_block_stop")),
              Part(sse({"type": "message_delta",
                        "delta": {"stop_reason": stop, "stop_sequence": None},
                        "usage": final}, "message_delta"), reports=usage(out)),
              Part(sse({"type": "message_stop"}, "message_stop"))]
    return Reply(200, headers(SSE_TYPE, req.request_id, shape="anthropic"), tuple(parts),
                 stream=True, usage=usage(out), model=model, response_id=mid)


def count_tokens(req: MockRequest) -> Reply:
    """Counting is free: nothing is consumed, so the reply carries no usage to settle."""
    refused = _checked(req, needs_max_tokens=False)
    if refused is not None:
        return refused
    body = compact({"input_tokens": prompt_tokens(req.doc or {})})
    return json_reply(req, 200, body, shape="anthropic", usage=MISSING, model=req.model)


def _model(model_id: str, name: str) -> dict[str, Any]:
    return {"type": "model", "id": model_id, "display_name": name, "created_at": CREATED_AT}


def models(req: MockRequest, model_id: str | None) -> Reply:
    if model_id is None:
        data = [_model(m, n) for m, n in MODELS]
        body = {"data": data, "has_more": False, "first_id": data[0]["id"],
                "last_id": data[-1]["id"]}
        return json_reply(req, 200, compact(body), shape="anthropic")
    name = dict(MODELS).get(model_id)
    if name is None:
        return error_reply(req, "anthropic", 404, f"model: {model_id[:100]}", "not_found_error")
    return json_reply(req, 200, compact(_model(model_id, name)), shape="anthropic")
