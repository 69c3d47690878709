"""Mock Gemini API (``generativelanguage.googleapis.com``): ``:generateContent``,
``:streamGenerateContent`` (``alt=sse``: CRLF-delimited events; without it, one JSON array),
``:countTokens``, ``:embedContent``, ``:batchEmbedContents``, ``GET …/models[/{id}]``.

The wire format is the recorded one (tests/data/recorded/genai/gemini): every streamed chunk carries
the cumulative ``usageMetadata``, and a thinking model's ``thoughtsTokenCount`` sits beside
``candidatesTokenCount``, not inside it. Usage rules beyond ``common``'s:
- a prompt costs the tokens of its text plus 3 per ``contents`` item;
- the answer is ``min(generationConfig.maxOutputTokens, pacing.output_tokens)`` tokens;
- a thinking model (any but ``*-lite``) thinks ``THOUGHTS`` tokens, at most
  ``thinkingConfig.thinkingBudget`` (0 turns it off); thinking comes first in a stream, in the
  first chunk, so even a stream cut after one chunk has billed output.
Embeddings report no usage, as the real API's answers do; counting tokens is free.
"""

from __future__ import annotations

from typing import Any, Final

from ...usage.base import MISSING, Usage
from ...usage.gemini import path_facts
from ..ids import suffix
from ..reply import Part, Reply
from .common import (
    JSON_TYPE,
    SSE_TYPE,
    MockRequest,
    answer_pieces,
    answer_text,
    compact,
    headers,
    prompt_tokens,
)
from .openai_misc import _vector

HOST: Final = "generativelanguage.googleapis.com"
#: (id, display name, thinks); any other ``gemini-*``/``gemma-*`` id is served too.
MODELS: Final = (("gemini-2.5-flash", "Gemini 2.5 Flash", True),
                 ("gemini-2.5-pro", "Gemini 2.5 Pro", True),
                 ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", False),
                 ("gemini-3.1-pro-preview", "Gemini 3.1 Pro Preview", True),
                 ("gemini-embedding-001", "Gemini Embedding 001", False))
THOUGHTS: Final = 24
EMBEDDING_DIMENSIONS: Final = 16
VERSION: Final = "001"
_STATUS: Final = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                  404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                  503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def error(req: MockRequest, status: int, message: str) -> Reply:
    """Google's error shape, as recorded: ``{"error": {"code", "message", "status"}}``."""
    body = compact({"error": {"code": status, "message": message,
                              "status": _STATUS.get(status, "UNKNOWN")}})
    return Reply(status, headers(JSON_TYPE, req.request_id), (Part(body),))


def reply(req: MockRequest) -> Reply:
    path, method = req.target.path, req.method
    facts = path_facts(path)
    model = facts.model
    name, _, call = path.rpartition("/")[2].partition(":")
    if method == "GET" and not call:
        return models(req, model)
    if method != "POST" or not call:
        return error(req, 404, f"Invalid URL ({method} {path[:200]})")
    if model is None or not model.startswith(("gemini-", "gemma-")):
        return error(req, 404, f"models/{name[:100]} is not found for API version "
                     f"{path.strip('/').split('/')[0][:20]}, or is not supported for {call[:40]}. "
                     "Call ModelService.ListModels to see the list of available models and their "
                     "supported methods.")
    doc = req.doc
    if doc is None:
        return error(req, 400, "Invalid JSON payload received.")
    if call in ("generateContent", "streamGenerateContent"):
        return generate(req, model, doc, stream=call == "streamGenerateContent")
    if call == "countTokens":
        return count_tokens(req, doc)
    if call in ("embedContent", "batchEmbedContents"):
        return embed(req, doc, batch=call == "batchEmbedContents")
    return error(req, 404, f"Method not found: {call[:40]}")


def _config(doc: dict[str, Any]) -> dict[str, Any]:
    config = _field(doc, "generationConfig", "generation_config")
    return config if isinstance(config, dict) else {}


def _field(d: dict[str, Any], camel: str, snake: str) -> object:
    """Google's JSON parser takes a field by its JSON name or its proto name (google-genai sends
    ``thinking_budget``), so the mock does too."""
    return d.get(camel, d.get(snake))


def _limit(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _thoughts(model: str, config: dict[str, Any]) -> int:
    thinks = next((t for m, _, t in MODELS if m == model), "-lite" not in model)
    thinking = _field(config, "thinkingConfig", "thinking_config")
    budget = _limit(_field(thinking, "thinkingBudget", "thinking_budget")) \
        if isinstance(thinking, dict) else None
    if not thinks:
        return 0
    return THOUGHTS if budget is None else min(budget, THOUGHTS)


def _prompt(doc: dict[str, Any]) -> int:
    return prompt_tokens(doc, messages_key="contents")


def _metadata(prompt: int, candidates: int, thoughts: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"promptTokenCount": prompt}
    if candidates:
        meta["candidatesTokenCount"] = candidates  # Google leaves zero counts out
    meta["totalTokenCount"] = prompt + candidates + thoughts
    meta["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    return meta


def generate(req: MockRequest, model: str, doc: dict[str, Any], *, stream: bool) -> Reply:
    if not isinstance(doc.get("contents"), list) or not doc["contents"]:
        return error(req, 400, "* GenerateContentRequest.contents: contents is not specified")
    config = _config(doc)
    # 0 is unset, as proto3 JSON has it
    limit = _limit(_field(config, "maxOutputTokens", "max_output_tokens")) or None
    out = req.pacing.output_tokens if limit is None else min(limit, req.pacing.output_tokens)
    cut = limit is not None and limit <= req.pacing.output_tokens
    thoughts = _thoughts(model, config)
    prompt = _prompt(doc)
    rid = "gr_" + suffix(req.request_id)

    def usage(candidates: int) -> Usage:
        return Usage(input_tokens=prompt, output_tokens=candidates + thoughts,
                     reasoning_tokens=thoughts or None, model=model, response_id=rid,
                     source="provider", modality_tokens=(("input", "text", prompt),))

    def body(text: str, candidates: int, finish: str | None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {"candidates": [candidate], "usageMetadata": _metadata(prompt, candidates, thoughts),
                "modelVersion": model, "responseId": rid}

    finish = "MAX_TOKENS" if cut else "STOP"
    if not stream:
        part = Part(compact(body(answer_text(out), out, finish)), out + thoughts, usage(out))
        return Reply(200, headers(JSON_TYPE, req.request_id), (part,), usage=usage(out),
                     model=model, response_id=rid)
    pieces = answer_pieces(out, req.pacing) or [("", 0)]
    docs, so_far = [], 0
    for i, (text, n) in enumerate(pieces):
        so_far += n
        docs.append((body(text, so_far, finish if i == len(pieces) - 1 else None), so_far,
                     n + (thoughts if i == 0 else 0)))
    if req.target.query.find("alt=sse") < 0:  # no alt=sse: one JSON array, sent as it grows
        last = len(docs) - 1
        parts = [Part((b"[" if i == 0 else b"\r\n,") + compact(d) + (b"]" if i == last else b""),
                      delivered, usage(candidates)) for i, (d, candidates, delivered) in enumerate(docs)]
        return Reply(200, headers(JSON_TYPE, req.request_id), tuple(parts), stream=True,
                     usage=usage(out), model=model, response_id=rid)
    parts = [Part(b"data: " + compact(d) + b"\r\n\r\n", delivered, usage(candidates))
             for d, candidates, delivered in docs]
    return Reply(200, headers(SSE_TYPE, req.request_id), tuple(parts), stream=True,
                 usage=usage(out), model=model, response_id=rid)


def count_tokens(req: MockRequest, doc: dict[str, Any]) -> Reply:
    """Counting is free: nothing is consumed, so the reply carries no usage to settle."""
    inner = doc.get("generateContentRequest")
    total = _prompt(inner if isinstance(inner, dict) else doc)
    body = compact({"totalTokens": total,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]})
    return Reply(200, headers(JSON_TYPE, req.request_id), (Part(body),), usage=MISSING)


def _texts(content: object) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return ""
    return "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def embed(req: MockRequest, doc: dict[str, Any], *, batch: bool) -> Reply:
    """Deterministic vectors (SHA-256 of the text); no usage in the answer, as from Google."""
    if batch:
        requests = doc.get("requests")
        if not isinstance(requests, list) or not requests or len(requests) > 100:
            return error(req, 400, "* BatchEmbedContentsRequest.requests: 1-100 requests")
        texts = [_texts(r.get("content") if isinstance(r, dict) else None) for r in requests]
        payload: dict[str, Any] = {"embeddings": [
            {"values": _vector(t, EMBEDDING_DIMENSIONS)} for t in texts]}
    else:
        text = _texts(doc.get("content"))
        payload = {"embedding": {"values": _vector(text, EMBEDDING_DIMENSIONS)}}
    return Reply(200, headers(JSON_TYPE, req.request_id), (Part(compact(payload)),), usage=MISSING)


def _model_doc(model_id: str, name: str) -> dict[str, Any]:
    embedding = "embedding" in model_id
    methods = ["embedContent", "batchEmbedContents"] if embedding else [
        "generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
    return {"name": f"models/{model_id}", "version": VERSION, "displayName": name,
            "description": f"{name} (local Lava's mock)",
            "inputTokenLimit": 2048 if embedding else 1_048_576,
            "outputTokenLimit": 1 if embedding else 65_536,
            "supportedGenerationMethods": methods,
            **({} if embedding else {"thinking": "-lite" not in model_id})}


def models(req: MockRequest, model_id: str | None) -> Reply:
    if model_id is None:
        body = {"models": [_model_doc(m, n) for m, n, _ in MODELS]}
        return Reply(200, headers(JSON_TYPE, req.request_id), (Part(compact(body)),))
    name = next((n for m, n, _ in MODELS if m == model_id), None)
    if name is None:
        return error(req, 404, f"models/{model_id[:100]} is not found for API version v1beta")
    return Reply(200, headers(JSON_TYPE, req.request_id), (Part(compact(_model_doc(model_id, name))),))

