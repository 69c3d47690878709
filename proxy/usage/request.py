"""What a request asks for (model, stream, usage wanted, speech characters), and the usage opt-in.

Never raises, never refuses: a body it cannot read is relayed as the provider would see it.
"""

from __future__ import annotations

import json
from typing import Final

from .base import Api, RequestFacts
from .fields import MAX_TEXT, obj, text
from .jsonscan import MIN_FAST_BYTES, JsonDict, parse_object, top_level

_INJECTABLE: Final = frozenset({Api.CHAT, Api.COMPLETIONS})
_KEYS: Final = ("model", "stream", "stream_options")
_SPEECH_KEYS: Final = ("model", "input")
_OPT_IN: Final = b'"stream_options":{"include_usage":true},'
_WS: Final = b" \t\n\r"
#: How far into a multipart body a small form field is looked for (files come after it, often).
_FORM_SCAN: Final = 1 << 20
_FORM_TRIES: Final = 8


def inspect(api: Api, body: bytes, content_type: str | None, *,
            inject_stream_usage: bool) -> tuple[RequestFacts, bytes]:
    """Facts about the request, and the body to send upstream (``body`` itself unless injected).

    The injection follows reference/peers.md 2b: only chat and legacy completions streams, never
    Responses, and what the client asked to see is never flipped (an explicit
    ``include_usage: false`` is overridden upstream, and the chunk stripped again). When the body
    changes its length changes: the caller recomputes ``Content-Length``.
    """
    mime, _, params = (content_type or "").partition(";")
    mime = mime.strip().lower()
    if mime == "multipart/form-data":
        return _multipart(api, body, params), body
    if mime not in ("", "application/json") and not mime.endswith("+json"):
        return RequestFacts(api=api), body
    members, whole = _members(body, _SPEECH_KEYS if api is Api.AUDIO_SPEECH else _KEYS)
    if members is None:
        return RequestFacts(api=api), body
    stream = members.get("stream") is True
    options = members.get("stream_options")
    wants = isinstance(options, dict) and options.get("include_usage") is True
    speech = members.get("input") if api is Api.AUDIO_SPEECH else None
    facts = RequestFacts(
        api=api, model=text(members.get("model")), stream=stream,
        client_wants_usage=wants and api in _INJECTABLE,
        input_characters=len(speech) if isinstance(speech, str) else None,
        doc=members if whole else None)
    if not (inject_stream_usage and api in _INJECTABLE and stream and not wants):
        return facts, body
    injected = _inject(body, "stream_options" in members)
    if injected is None:
        return facts, body
    return RequestFacts(api=api, model=facts.model, stream=True, client_wants_usage=False,
                        usage_injected=True, doc=facts.doc), injected


def _members(body: bytes, keys: tuple[str, ...]) -> tuple[JsonDict | None, bool]:
    """The members named in ``keys`` (more may be there), and whether that is the whole body."""
    if len(body) >= MIN_FAST_BYTES:
        members = top_level(body, keys)  # a long prompt: read only the few members needed
        if members is not None:
            return members, False
    return parse_object(body), True


def _inject(body: bytes, has_options: bool) -> bytes | None:
    """The body with ``stream_options.include_usage: true``; None if that cannot be done."""
    if not has_options:
        # Insert after the opening brace: every other byte stays as the client wrote it.
        i = 0
        while i < len(body) and body[i] in _WS:
            i += 1
        if body[i:i + 1] == b"{":
            return body[:i + 1] + _OPT_IN + body[i + 1:]
    # stream_options is there without include_usage (or with false), or the body starts with a
    # BOM: re-serialise, since a second "stream_options" key would be ambiguous.
    doc = parse_object(body)
    if doc is None:
        return None
    doc["stream_options"] = {**obj(doc.get("stream_options")), "include_usage": True}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _multipart(api: Api, body: bytes, params: str) -> RequestFacts:
    boundary = _boundary(params)
    if boundary is None:
        return RequestFacts(api=api)
    model = _form_field(body, boundary, b"model")
    stream = _form_field(body, boundary, b"stream")
    return RequestFacts(api=api, model=model, stream=stream == "true")


def _boundary(params: str) -> bytes | None:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip().strip('"')
            if 0 < len(value) <= 70:  # RFC 2046's limit
                try:
                    return value.encode("ascii")
                except UnicodeEncodeError:
                    return None
    return None


def _form_field(body: bytes, boundary: bytes, name: bytes) -> str | None:
    """A small text field of a multipart body, found in a part's own header block."""
    delimiter = b"--" + boundary
    needle = b'name="' + name + b'"'
    at = -1
    for _ in range(_FORM_TRIES):
        at = body.find(needle, at + 1, _FORM_SCAN)
        if at < 0:
            return None
        value = _field_value(body, delimiter, at)
        if value is not None:
            return value
    return None


def _field_value(body: bytes, delimiter: bytes, at: int) -> str | None:
    part = body.rfind(delimiter, 0, at)
    header_end = body.find(b"\r\n\r\n", at)
    # the name must be in the header block right after a delimiter, not inside a file's bytes
    if part < 0 or header_end < 0 or body.find(b"\r\n\r\n", part, at) >= 0:
        return None
    line_start = body.rfind(b"\r\n", part, at)
    if not body[line_start + 2:at].lower().startswith(b"content-disposition:"):
        return None
    start = header_end + 4
    closing = b"\r\n" + delimiter
    end = body.find(closing, start, start + MAX_TEXT + len(closing))
    if end < 0:
        return None
    try:
        return text(body[start:end].decode())
    except UnicodeDecodeError:
        return None
