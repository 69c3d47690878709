"""Mock OpenAI Responses API (``/responses``), JSON and SSE.

The stream is the real event sequence (see the recordings under genai/openairesponses):
``response.created``, ``response.in_progress``, ``response.output_item.added``,
``response.content_part.added``, ``response.output_text.delta``…, ``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done`` and the terminal
``response.completed`` (``response.incomplete`` when ``max_output_tokens`` cut the answer), the
only event that carries ``usage``.
"""

from __future__ import annotations

from typing import Any

from ...usage.base import Usage
from ..ids import suffix
from ..reply import Part, Reply
from .common import (
    SSE_TYPE,
    MockRequest,
    answer_length,
    answer_pieces,
    answer_text,
    error_reply,
    headers,
    json_reply,
    pretty,
    prompt_tokens,
    sse,
)


def _response(req: MockRequest, rid: str, status: str, output: list[dict[str, Any]],
              usage: dict[str, Any] | None, cut: bool) -> dict[str, Any]:
    doc = req.doc or {}
    return {
        "id": rid, "object": "response", "created_at": req.now, "status": status,
        "background": False, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if cut and status != "in_progress"
        else None,
        "instructions": doc.get("instructions"), "max_output_tokens": doc.get("max_output_tokens"),
        "model": req.model, "output": output, "parallel_tool_calls": True,
        "previous_response_id": doc.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None}, "service_tier": "default",
        "store": doc.get("store", True), "temperature": 1.0,
        "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
        "top_p": 1.0, "truncation": "disabled", "usage": usage, "user": None,
        "metadata": doc.get("metadata") or {},
    }


def responses(req: MockRequest) -> Reply:
    doc, model = req.doc, req.model
    if doc is None or model is None:
        return error_reply(req, "openai", 400, "Missing required parameter: 'model'.")
    if not isinstance(doc.get("input"), str | list):
        return error_reply(req, "openai", 400, "Missing required parameter: 'input'.")
    inp = prompt_tokens(doc, messages_key="input")
    out, cut = answer_length(doc, req.pacing)
    rid, mid = "resp_" + suffix(req.request_id), "msg_" + suffix(req.request_id)
    usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=0, reasoning_tokens=0,
                  model=model, response_id=rid, source="provider")
    usage_doc = {"input_tokens": inp, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": inp + out}
    text = answer_text(out)
    final = "incomplete" if cut else "completed"
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
    item = {"id": mid, "type": "message", "status": final, "content": [part],
            "role": "assistant"}
    if not req.stream:
        body = _response(req, rid, final, [item], usage_doc, cut)
        return json_reply(req, 200, pretty(body), usage=usage, model=model, response_id=rid)
    seq = iter(range(1 << 30))

    def event(name: str, **fields: Any) -> bytes:
        return sse({"type": name, **fields, "sequence_number": next(seq)}, name)

    start = _response(req, rid, "in_progress", [], None, cut)
    where = {"item_id": mid, "output_index": 0, "content_index": 0}
    parts = [Part(event("response.created", response=start)),
             Part(event("response.in_progress", response=start)),
             Part(event("response.output_item.added", output_index=0,
                        item={**item, "status": "in_progress", "content": []})),
             Part(event("response.content_part.added", item_id=mid, output_index=0,
                        content_index=0, part={**part, "text": ""}))]
    parts += [Part(event("response.output_text.delta", **where, delta=piece, logprobs=[]), n)
              for piece, n in answer_pieces(out, req.pacing)]
    parts += [Part(event("response.output_text.done", **where, text=text, logprobs=[])),
              Part(event("response.content_part.done", **where, part=part)),
              Part(event("response.output_item.done", output_index=0, item=item)),
              Part(event(f"response.{final}",
                         response=_response(req, rid, final, [item], usage_doc, cut)),
                   reports=usage)]
    return Reply(200, headers(SSE_TYPE, req.request_id), tuple(parts), stream=True,
                 usage=usage, model=model, response_id=rid)
