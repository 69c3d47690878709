"""Independent, deliberately plain readings of recorded bodies: what the extractors must find.

Written from the rules (fixtures README, reference/peers.md 2b, base.py's conventions), not from
the extractors: whole-body ``json.loads``, no fast paths, no incremental state.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from proxy.usage.base import Api, Usage

from .recorded import Recording


def api_of(rec: Recording) -> Api:
    url = rec.url
    if url.startswith("https://generativelanguage.googleapis.com/"):
        method = url.partition("?")[0].rpartition(":")[2]
        return Api.GENERATE_CONTENT if method in ("generateContent", "streamGenerateContent") \
            else Api.OTHER
    for suffix, api in (("/chat/completions", Api.CHAT), ("/completions", Api.COMPLETIONS),
                        ("/embeddings", Api.EMBEDDINGS), ("/responses", Api.RESPONSES),
                        ("/messages", Api.MESSAGES), ("/transcriptions", Api.AUDIO_TRANSCRIPTION),
                        ("/translations", Api.AUDIO_TRANSLATION), ("/generations", Api.IMAGES)):
        if url.endswith(suffix):
            return api
    raise AssertionError(f"no API for {url}")


def _events(body: bytes) -> list[tuple[str, Any]]:
    """(event name, decoded data) for every event; the recordings use LF and one data line."""
    out = []
    for block in body.decode().split("\n\n"):
        name, data = "message", None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and line != "data: [DONE]":
                data = json.loads(line[6:])
        if data is not None:
            out.append((name, data))
    return out


def _n(d: dict[str, Any], *path: str) -> int | None:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d if isinstance(d, int) else None  # type: ignore[return-value]


def _openai_counts(u: dict[str, Any]) -> dict[str, Any]:
    details_in = u.get("prompt_tokens_details") or u.get("input_tokens_details") or {}
    details_out = u.get("completion_tokens_details") or u.get("output_tokens_details") or {}
    reasoning = details_out.get("reasoning_tokens")
    cached = details_in.get("cached_tokens")
    return {
        "input_tokens": u["prompt_tokens"] if "prompt_tokens" in u else u.get("input_tokens"),
        "output_tokens": (u["completion_tokens"] if "completion_tokens" in u
                          else u.get("output_tokens")),
        "cache_read_tokens": cached if cached is not None else u.get("prompt_cache_hit_tokens"),
        "cache_write_tokens": details_in.get("cache_write_tokens"),
        "reasoning_tokens": reasoning if reasoning is not None else u.get("reasoning_tokens"),
    }


def _anthropic_counts(u: dict[str, Any]) -> dict[str, Any]:
    parts = [u.get(k) for k in ("input_tokens", "cache_read_input_tokens",
                                "cache_creation_input_tokens")]
    present = [p for p in parts if p is not None]
    return {
        "input_tokens": sum(present) if present else None,
        "output_tokens": u.get("output_tokens"),
        "cache_read_tokens": u.get("cache_read_input_tokens"),
        "cache_write_tokens": u.get("cache_creation_input_tokens"),
        "reasoning_tokens": (u.get("output_tokens_details") or {}).get("thinking_tokens"),
    }


def _gemini_counts(u: dict[str, Any]) -> dict[str, Any]:
    """issue 20: input = prompt (+ tool-use prompt), output = candidates + thoughts; a prompt count
    left out is what the total says beyond the others (total = the sum of all four)."""
    prompt, candidates = u.get("promptTokenCount"), u.get("candidatesTokenCount")
    thoughts, tool = u.get("thoughtsTokenCount"), u.get("toolUsePromptTokenCount")
    if prompt is None and "totalTokenCount" in u:
        prompt = u["totalTokenCount"] - sum(x or 0 for x in (candidates, thoughts, tool))
    breakdown = []
    for key, part in (("promptTokensDetails", "input"), ("cacheTokensDetails", "cache_read"),
                      ("toolUsePromptTokensDetails", "tool_prompt"),
                      ("candidatesTokensDetails", "output")):
        breakdown += sorted((part, d["modality"].lower(), d["tokenCount"]) for d in u.get(key, []))
    return {
        "input_tokens": None if prompt is None and tool is None else (prompt or 0) + (tool or 0),
        "output_tokens": (None if candidates is None and thoughts is None
                          else (candidates or 0) + (thoughts or 0)),
        "cache_read_tokens": u.get("cachedContentTokenCount"),
        "reasoning_tokens": thoughts,
        "tool_prompt_tokens": tool,
        "modality_tokens": tuple(breakdown),
    }


def _gemini(rec: Recording) -> Usage:
    if rec.is_sse:  # CRLF-delimited "data: {chunk}" events; the last chunk's usage wins
        chunks = [json.loads(line[6:]) for line in rec.body.decode().split("\r\n")
                  if line.startswith("data: ")]
    else:
        chunks = [json.loads(rec.body)]
    last = [c for c in chunks if "usageMetadata" in c][-1]
    counts = _gemini_counts(last["usageMetadata"])
    return _usage(counts, last.get("modelVersion"), last.get("responseId"))


def _usage(counts: dict[str, Any], model: Any, rid: Any) -> Usage:
    seen = any(v is not None for k, v in counts.items() if k != "modality_tokens")
    return Usage(**counts, model=model, response_id=rid, source="provider" if seen else "missing")


def expected(rec: Recording) -> Usage:
    api = api_of(rec)
    if api in (Api.MODELS, Api.COUNT_TOKENS, Api.MODERATIONS):
        return Usage(source="none")  # nothing to bill by nature, whatever the answer
    if rec.status != 200 or api is Api.OTHER:
        return Usage()
    if api is Api.GENERATE_CONTENT:
        return _gemini(rec)
    if not rec.is_sse:
        doc = json.loads(rec.body)
        u = doc.get("usage") or {}
        if api in (Api.AUDIO_TRANSCRIPTION, Api.AUDIO_TRANSLATION):
            seconds = u.get("seconds") if u.get("type") == "duration" else doc.get("duration")
            secs = None if seconds is None else Decimal(str(seconds))
            return Usage(audio_seconds=secs, source="provider" if secs is not None else "missing")
        counts = _anthropic_counts(u) if api is Api.MESSAGES else _openai_counts(u)
        return _usage(counts, doc.get("model"), doc.get("id"))
    events = _events(rec.body)
    if api is Api.MESSAGES:
        start = next(d["message"] for n, d in events if n == "message_start")
        merged = dict(start["usage"])
        for name, d in events:  # cumulative: a later value replaces, never adds
            if name == "message_delta":
                merged.update({k: v for k, v in d.get("usage", {}).items() if v is not None})
        return _usage(_anthropic_counts(merged), start["model"], start["id"])
    if api is Api.RESPONSES:
        terminal = [d["response"] for n, d in events
                    if n in ("response.completed", "response.incomplete", "response.failed")]
        response = terminal[-1]
        return _usage(_openai_counts(response.get("usage") or {}), response["model"],
                      response["id"])
    first = events[0][1]
    usages = [d.get("usage") or (d.get("x_groq") or {}).get("usage") for _, d in events]
    last = [u for u in usages if isinstance(u, dict)]
    counts = _openai_counts(last[-1] if last else {})
    return _usage(counts, first.get("model"), first.get("id"))
