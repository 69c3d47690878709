"""Mock OpenAI ``/embeddings`` and ``/models`` (also served for OpenAI-compatible hosts).

Embeddings are deterministic: each vector is derived from a SHA-256 of its input, ``dimensions``
long (16 by default, to keep bodies small); ``encoding_format: base64`` gives little-endian
float32, as the real API and the SDK's default expect.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any, Final

from ...usage.base import Usage
from ..reply import Reply
from .common import MockRequest, error_reply, json_reply, pretty, tokens_of

DEFAULT_DIMENSIONS: Final = 16
MAX_DIMENSIONS: Final = 4096
MAX_INPUTS: Final = 2048
CREATED: Final = 1_700_000_000
OPENAI_MODELS: Final = ("gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4o", "gpt-4o-mini",
                        "gpt-4o-transcribe", "gpt-4o-mini-tts", "babbage-002",
                        "text-embedding-3-small", "text-embedding-3-large", "whisper-1", "tts-1")


def _token(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _inputs(value: object) -> list[object] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(_token(v) for v in value):
        return [value]  # one pre-tokenised input
    if isinstance(value, list) and 0 < len(value) <= MAX_INPUTS:
        return list(value)
    return None


def _vector(item: object, dims: int) -> list[float]:
    seed = hashlib.sha256(repr(item).encode()).digest()
    out: list[float] = []
    counter = 0
    while len(out) < dims:
        block = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        out.extend(round(b / 127.5 - 1.0, 6) for b in block)
        counter += 1
    return out[:dims]


def embeddings(req: MockRequest) -> Reply:
    doc, model = req.doc, req.model
    items = _inputs(doc.get("input")) if doc else None
    if doc is None or model is None or items is None:
        return error_reply(req, "openai", 400, "'model' and 'input' are required")
    dims = doc.get("dimensions", DEFAULT_DIMENSIONS)
    if not _token(dims) or not 1 <= dims <= MAX_DIMENSIONS:
        return error_reply(req, "openai", 400, f"'dimensions' must be 1-{MAX_DIMENSIONS}")
    tokens = 0
    for item in items:
        if isinstance(item, str) and item:
            tokens += max(1, tokens_of(item))
        elif isinstance(item, list) and item and all(_token(t) for t in item):
            tokens += len(item)
        else:
            return error_reply(req, "openai", 400, "'input' items must be non-empty strings "
                                                   "or token arrays")
    b64 = doc.get("encoding_format") == "base64"
    data: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        vec = _vector(item, dims)
        emb: object = (base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if b64 else vec)
        data.append({"object": "embedding", "index": i, "embedding": emb})
    body = {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    usage = Usage(input_tokens=tokens, model=model, source="provider")
    return json_reply(req, 200, pretty(body), usage=usage, model=model)


def _model(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": owner}


def models(req: MockRequest, model_id: str | None, *, owner: str = "openai",
           known: tuple[str, ...] = OPENAI_MODELS, strict: bool = True) -> Reply:
    """The model list, or one model; ``strict``: unknown ids are a 404 (OpenAI), else any id is
    served (the compatible hosts' catalogues are open-ended)."""
    if model_id is None:
        body = {"object": "list", "data": [_model(m, owner) for m in known]}
        return json_reply(req, 200, pretty(body))
    if strict and model_id not in known:
        return error_reply(req, "openai", 404, f"The model '{model_id[:100]}' does not exist",
                           "model_not_found")
    return json_reply(req, 200, pretty(_model(model_id, owner)))
