"""Mock OpenAI text generation: ``/chat/completions`` and legacy ``/completions``, JSON and SSE.

Stream semantics as the real API (see ../shared/fixtures/recorded/envoy-ai-gateway/openai):
usage only with ``stream_options.include_usage``, then every chunk carries ``"usage":null`` and a
usage-only chunk (``"choices":[]``) comes last before ``data: [DONE]``. OpenAI-compatible hosts
(Mistral, DeepSeek, …) instead put ``usage`` on the finishing chunk unasked: ``usage_always``.
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

DONE = b"data: [DONE]\n\n"


def _usage_doc(inp: int, out: int, detailed: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"prompt_tokens": inp, "completion_tokens": out,
                           "total_tokens": inp + out}
    if detailed:
        doc["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
        doc["completion_tokens_details"] = {"reasoning_tokens": 0, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0,
                                            "rejected_prediction_tokens": 0}
    return doc


def _usage(inp: int, out: int, detailed: bool, model: str, rid: str) -> Usage:
    zero = 0 if detailed else None
    return Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=zero,
                 reasoning_tokens=zero, model=model, response_id=rid, source="provider")


def _wants_usage(doc: dict[str, Any]) -> bool:
    opts = doc.get("stream_options")
    return isinstance(opts, dict) and opts.get("include_usage") is True


def chat(req: MockRequest, *, usage_always: bool = False) -> Reply:
    doc, model = req.doc, req.model
    if doc is None or model is None:
        return error_reply(req, "openai", 400, "you must provide a model parameter")
    if not isinstance(doc.get("messages"), list) or not doc["messages"]:
        return error_reply(req, "openai", 400, "'messages' is a required property")
    detailed = not usage_always
    inp = prompt_tokens(doc)
    out, cut = answer_length(doc, req.pacing)
    rid = "chatcmpl-" + suffix(req.request_id)
    finish = "length" if cut else "stop"
    usage = _usage(inp, out, detailed, model, rid)
    usage_doc = _usage_doc(inp, out, detailed)
    head: dict[str, Any] = {"id": rid, "object": "chat.completion", "created": req.now,
                            "model": model}
    if not req.stream:
        body = {**head, "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer_text(out), "refusal": None,
                        "annotations": []},
            "logprobs": None, "finish_reason": finish}],
            "usage": usage_doc, "service_tier": "default", "system_fingerprint": None}
        return json_reply(req, 200, pretty(body), usage=usage, model=model, response_id=rid)
    head["object"] = "chat.completion.chunk"
    if detailed:
        head.update(service_tier="default", system_fingerprint=None)
    include = detailed and _wants_usage(doc)
    null_usage: dict[str, Any] = {"usage": None} if include else {}

    def chunk(delta: dict[str, Any], reason: str | None, **extra: Any) -> bytes:
        choice: dict[str, Any] = {"index": 0, "delta": delta}
        if usage_always:  # the compatible APIs send logprobs; OpenAI leaves it out
            choice["logprobs"] = None
        choice["finish_reason"] = reason
        return sse({**head, "choices": [choice], **null_usage, **extra})

    parts = [Part(chunk({"role": "assistant", "content": "", "refusal": None}, None))]
    parts += [Part(chunk({"content": text}, None), n) for text, n in answer_pieces(out, req.pacing)]
    if usage_always:
        parts.append(Part(chunk({}, finish, usage=usage_doc), reports=usage))
    else:
        parts.append(Part(chunk({}, finish)))
    if include:
        parts.append(Part(sse({**head, "choices": [], "usage": usage_doc}), reports=usage))
    parts.append(Part(DONE))
    return Reply(200, headers(SSE_TYPE, req.request_id), tuple(parts), stream=True,
                 usage=usage, model=model, response_id=rid)


def completions(req: MockRequest) -> Reply:
    doc, model = req.doc, req.model
    if doc is None or model is None:
        return error_reply(req, "openai", 400, "you must provide a model parameter")
    if not isinstance(doc.get("prompt"), str | list):
        return error_reply(req, "openai", 400, "'prompt' is a required property")
    inp = prompt_tokens(doc, messages_key="")
    out, cut = answer_length(doc, req.pacing)
    rid = "cmpl-" + suffix(req.request_id)
    finish = "length" if cut else "stop"
    usage = _usage(inp, out, False, model, rid)
    usage_doc = _usage_doc(inp, out, False)
    head = {"id": rid, "object": "text_completion", "created": req.now}
    if not req.stream:
        body = {**head, "model": model, "choices": [{
            "text": answer_text(out), "index": 0, "logprobs": None, "finish_reason": finish}],
            "usage": usage_doc}
        return json_reply(req, 200, pretty(body), usage=usage, model=model, response_id=rid)
    include = _wants_usage(doc)
    null_usage: dict[str, Any] = {"usage": None} if include else {}
    pieces = answer_pieces(out, req.pacing) or [("", 0)]
    parts = [Part(sse({**head, "choices": [{
        "text": text, "index": 0, "logprobs": None,
        "finish_reason": finish if i == len(pieces) - 1 else None}],
        "model": model, **null_usage}), n) for i, (text, n) in enumerate(pieces)]
    if include:
        parts.append(Part(sse({**head, "model": model, "usage": usage_doc, "choices": []}),
                          reports=usage))
    parts.append(Part(DONE))
    return Reply(200, headers(SSE_TYPE, req.request_id), tuple(parts), stream=True,
                 usage=usage, model=model, response_id=rid)
