"""The usage log's line format: one ``RequestRecord`` (+ estimated charge) ⇄ one JSON line.

Absent counts are ``null``, never ``0``; money and seconds are decimal strings. Decoding is what
replay uses to rebuild totals after a restart, so ``encode(decode(line)) == line`` for any line
this module wrote.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, cast, get_args

from .record import Outcome, RequestRecord
from .usage.base import Api, Source, Usage

#: Model names and ids come from clients and providers: bounded in the log like everywhere else.
MAX_TEXT: Final = 256
_COUNTS: Final = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                  "reasoning_tokens", "input_characters")
_SOURCES: Final = frozenset(get_args(Source))
_OUTCOMES: Final = frozenset(get_args(Outcome))


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:MAX_TEXT]


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _secs(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode_line(rec: RequestRecord, charge: Decimal | None) -> bytes:
    """One line, ``\\n``-terminated. JSON escapes every control character, so a line never splits."""
    u = rec.usage
    doc: dict[str, object] = {
        "time": iso_time(rec.started_at),
        "request_id": rec.request_id,
        "lava_request_id": _clip(rec.lava_request_id),
        "customer": rec.customer_id,
        "meter": rec.meter_slug,
        "identity": rec.identity_via,
        "provider": rec.provider,
        "api": rec.api.value,
        "model": _clip(rec.model),
        "response_model": _clip(u.model),
        "response_id": _clip(u.response_id),
        "status": rec.status,
        "stream": rec.stream,
        **{k: getattr(u, k) for k in _COUNTS},
        "audio_seconds": _dec(u.audio_seconds),
        "source": u.source,
        "partial": rec.partial,
        "outcome": rec.outcome,
        "error_code": rec.error_code,
        "upstream_error": rec.upstream_error,
        "extractor_error": rec.extractor_error,
        "duration": _secs(rec.duration),
        "ttfb": _secs(rec.ttfb),
        "overhead": _secs(rec.overhead),
        "charge_usd": _dec(charge),
    }
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


class _Bad(ValueError):
    """A line this version cannot read (torn by a crash, or not ours): replay skips it."""


def _opt(doc: dict[str, Any], key: str, *kinds: type[Any]) -> Any:
    value = doc.get(key)
    if value is None:
        return None
    # bool is an int subclass: a count of ``true`` is not a count.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise _Bad(key)
    return value


def _req(doc: dict[str, Any], key: str, kind: type[Any]) -> Any:
    value = _opt(doc, key, kind)
    if value is None:
        raise _Bad(key)
    return value


def _decimal(doc: dict[str, Any], key: str) -> Decimal | None:
    text = _opt(doc, key, str)
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise _Bad(key) from exc
    if not value.is_finite():
        raise _Bad(key)
    return value


def _number(doc: dict[str, Any], key: str) -> float | None:
    value = _opt(doc, key, int, float)
    return None if value is None else float(value)


def decode_line(line: bytes) -> tuple[RequestRecord, Decimal | None] | None:
    """The record and charge a line holds, or ``None`` for anything that is not a whole line of ours."""
    try:
        doc = json.loads(line)
        if not isinstance(doc, dict):
            return None
        source, outcome = doc.get("source"), doc.get("outcome")
        if source not in _SOURCES or outcome not in _OUTCOMES:
            return None
        usage = Usage(
            **{k: _opt(doc, k, int) for k in _COUNTS},
            audio_seconds=_decimal(doc, "audio_seconds"),
            model=_opt(doc, "response_model", str),
            response_id=_opt(doc, "response_id", str),
            source=cast(Source, source),
        )
        started = datetime.fromisoformat(_req(doc, "time", str).replace("Z", "+00:00"))
        rec = RequestRecord(
            request_id=_req(doc, "request_id", str),
            lava_request_id=_opt(doc, "lava_request_id", str),
            started_at=started.timestamp(),
            customer_id=_opt(doc, "customer", str),
            meter_slug=_opt(doc, "meter", str),
            identity_via=_req(doc, "identity", str),
            provider=_req(doc, "provider", str),
            api=Api(_req(doc, "api", str)),
            model=_opt(doc, "model", str),
            status=_req(doc, "status", int),
            stream=_req(doc, "stream", bool),
            usage=usage,
            partial=_req(doc, "partial", bool),
            outcome=cast(Outcome, outcome),
            duration=_number(doc, "duration") or 0.0,
            ttfb=_number(doc, "ttfb"),
            overhead=_number(doc, "overhead"),
            error_code=_opt(doc, "error_code", str),
            upstream_error=_opt(doc, "upstream_error", str),
            extractor_error=bool(_opt(doc, "extractor_error", bool)),
        )
        return rec, _decimal(doc, "charge_usd")
    except (ValueError, TypeError, KeyError):  # _Bad and json's errors are ValueErrors
        return None
