"""The ``prompt`` and ``providers`` tools on Google's native Gemini API: OpenAI-style chat messages
→ a ``generateContent`` request, its answer → text, finish reason and usage, and the model list."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..usage.gemini import usage_of
from .results import Usage


def request(model: str, messages: list[dict[str, Any]], max_tokens: int | None,
            temperature: float | None) -> tuple[str, dict[str, Any]]:
    """The path below the provider's root and the body: system messages become
    ``systemInstruction``, assistant turns the ``model`` role."""
    system = [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
    contents = [{"role": "model" if m.get("role") == "assistant" else "user",
                 "parts": [{"text": str(m.get("content", ""))}]}
                for m in messages if m.get("role") != "system"]
    doc: dict[str, Any] = {"contents": contents}
    if system:
        doc["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config: dict[str, Any] = {}
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    if temperature is not None:
        config["temperature"] = temperature
    if config:
        doc["generationConfig"] = config
    return f"/v1beta/models/{quote(model, safe='-._~')}:generateContent", doc


def read_answer(answer: dict[str, Any]) -> tuple[str, str | None, Usage]:
    """Text of the first candidate (thought summaries left out), its finish reason, and usage as
    the sidecar bills it (thinking counted as output)."""
    candidates = answer.get("candidates") or [{}]
    first = candidates[0] if isinstance(candidates[0], dict) else {}
    content = first.get("content")
    parts = (content.get("parts") if isinstance(content, dict) else None) or []
    text = "".join(str(p.get("text", "")) for p in parts
                   if isinstance(p, dict) and not p.get("thought"))
    meta = answer.get("usageMetadata")
    u = usage_of(meta if isinstance(meta, dict) else {})
    finish = first.get("finishReason")
    return text, finish if isinstance(finish, str) else None, Usage(
        input_tokens=u.input_tokens, output_tokens=u.output_tokens)


#: The model list's path below the provider's root.
MODELS_PATH = "/v1beta/models"


def model_ids(body: object) -> list[str]:
    """``{"models": [{"name": "models/gemini-2.5-flash"}, …]}`` → the ids."""
    models = body.get("models") if isinstance(body, dict) else None
    if not isinstance(models, list):
        return []
    return [str(m["name"]).removeprefix("models/") for m in models
            if isinstance(m, dict) and "name" in m]
