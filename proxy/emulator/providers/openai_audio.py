"""Mock OpenAI audio: ``/audio/transcriptions`` and ``/audio/translations`` (multipart in, JSON with
``usage`` out, as recorded) and ``/audio/speech`` (JSON in, audio bytes out).

Deterministic: an upload lasts ``ceil(bytes / 32000)`` seconds (16 kHz 16-bit mono PCM), at least
one; ``whisper-*`` models report ``{"type":"duration","seconds":N}``, the token-billed
``gpt-4o-*transcribe`` models ``{"type":"tokens",…}`` with 10 audio tokens per second.
"""

from __future__ import annotations

import re
import struct
from decimal import Decimal
from typing import Any, Final

from aiohttp.helpers import parse_mimetype

from ...usage.base import Usage
from ..reply import Part, Reply
from .common import (
    MockRequest,
    answer_text,
    error_reply,
    headers,
    json_reply,
    pretty,
    tokens_of,
)

BYTES_PER_SECOND: Final = 32000
AUDIO_TOKENS_PER_SECOND: Final = 10
MAX_FORM_PARTS: Final = 64
_DISPOSITION: Final = re.compile(rb'\b(name|filename)="([^"]*)"', re.IGNORECASE)
_SPEECH_TYPES: Final = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac",
                        "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"}


def form_fields(content_type: str | None, body: bytes) -> dict[str, tuple[bytes, str | None]]:
    """``multipart/form-data`` → {name: (value, filename)}. Empty when it is not such a body."""
    mime = parse_mimetype(content_type or "")
    boundary = mime.parameters.get("boundary")
    if mime.type != "multipart" or not boundary:
        return {}
    fields: dict[str, tuple[bytes, str | None]] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:MAX_FORM_PARTS + 1]:
        if chunk.startswith(b"--"):
            break
        head, sep, value = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        attrs = {k.lower(): v for k, v in _DISPOSITION.findall(head)}
        if b"name" in attrs:
            filename = attrs.get(b"filename")
            fields[attrs[b"name"].decode(errors="replace")] = (
                value.removesuffix(b"\r\n"), filename.decode(errors="replace") if filename else None)
    return fields


def transcription(req: MockRequest, *, translate: bool = False) -> Reply:
    fields = form_fields(req.headers.get("content-type"), req.body)
    model = fields.get("model", (b"", None))[0].decode(errors="replace")
    audio = fields.get("file")
    if not model or audio is None:
        return error_reply(req, "openai", 400,
                           "'file' and 'model' are required multipart/form-data fields")
    fmt = fields.get("response_format", (b"json", None))[0].decode(errors="replace")
    seconds = max(1, -(-len(audio[0]) // BYTES_PER_SECOND))
    text = answer_text(req.pacing.output_tokens)
    usage_doc: dict[str, Any] | None
    if translate:
        usage_doc, usage = None, Usage(audio_seconds=Decimal(seconds), model=model,
                                       source="provider")
    elif model.startswith("whisper"):
        usage_doc = {"type": "duration", "seconds": seconds}
        usage = Usage(audio_seconds=Decimal(seconds), model=model, source="provider")
    else:
        audio_tokens, out = seconds * AUDIO_TOKENS_PER_SECOND, tokens_of(text)
        usage_doc = {"type": "tokens", "input_tokens": audio_tokens,
                     "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                     "output_tokens": out, "total_tokens": audio_tokens + out}
        usage = Usage(input_tokens=audio_tokens, output_tokens=out, model=model,
                      source="provider")
    if fmt in ("text", "srt", "vtt"):  # plain text: the usage is known but not stated
        return Reply(200, headers("text/plain; charset=utf-8", req.request_id),
                     (Part(text.encode() + b"\n"),), usage=usage, model=model)
    doc: dict[str, Any] = {"text": text}
    if fmt == "verbose_json":
        doc = {"task": "translate" if translate else "transcribe", "language": "english",
               "duration": float(seconds), "text": text, "segments": []}
    if usage_doc is not None:
        doc["usage"] = usage_doc
    return json_reply(req, 200, pretty(doc), usage=usage, reports=usage_doc is not None,
                      model=model)


def speech(req: MockRequest) -> Reply:
    doc, model = req.doc, req.model
    text = doc.get("input") if doc else None
    if model is None or not isinstance(text, str) or not text:
        return error_reply(req, "openai", 400, "'model' and a non-empty 'input' are required")
    fmt = doc.get("response_format", "mp3") if doc else "mp3"
    ctype = _SPEECH_TYPES.get(fmt if isinstance(fmt, str) else "mp3", "audio/mpeg")
    usage = Usage(input_characters=len(text), model=model, source="provider")
    # 10 ms of silence per character at 24 kHz 16-bit mono: a real WAV for "wav", the same
    # samples under a fake header otherwise (no client decodes them).
    samples = b"\x00\x00" * 240 * len(text)
    head = (_wav_header(len(samples)) if fmt == "wav" else b"ID3\x04\x00\x00\x00\x00\x00\x00")
    data = head + samples
    half = len(data) // 2
    return Reply(200, headers(ctype, req.request_id),
                 (Part(data[:half]), Part(data[half:])), usage=usage, model=model)


def _wav_header(size: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, 24000, 48000, 2, 16) + b"data"
            + struct.pack("<I", size))
