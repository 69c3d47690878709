"""The usage log's line format: one ``RequestRecord`` (+ estimated charge) ⇄ one JSON line.

Absent counts are ``null``, never ``0``; money and seconds are decimal strings. Decoding is what
replay uses to rebuild totals after a restart, so ``encode(decode(line)) == line`` for any line
this module wrote.

No line is longer than ``MAX_LINE_BYTES`` (4.5 KiB), whatever a client, a provider or a price
holds, so that a burst of lines can never fill the log's rotation with a few huge ones (issue 24:
1 MB charges rotated every billed line off the disk). A text field whose JSON form is over
``MAX_TEXT`` bytes keeps its head and ends in ``TRUNCATED``; a decimal that would print longer
than ``MAX_DECIMAL`` characters (no priced charge comes close) is written ``null``. Each cut is
counted (``Cuts``, exported as ``lava_sidecar_usage_log_truncated_fields_total``). Truncation
is idempotent: a cut value reads back as text that fits, so the round trip holds for cut lines too.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from json.encoder import encode_basestring_ascii as _quote
from typing import Any, Final, cast, get_args

from ..money import usd  # issue 23: one format for every charge printed
from ..record import Outcome, RequestRecord
from ..usage.base import MODALITIES, MODALITY_PARTS, Api, Source, Usage

#: Longest text field (model, ids, error codes) in a line: bytes of its JSON form, quotes
#: excluded. Plain ASCII text of up to 256 characters is kept whole, as it always was.
MAX_TEXT: Final = 256
#: What a cut text field ends in.
TRUNCATED: Final = "...[truncated]"
#: Longest decimal (charge, audio seconds) printed; a longer one is written ``null``.
MAX_DECIMAL: Final = 64
#: No line is longer: 14 text fields at ``MAX_TEXT``, two decimals at ``MAX_DECIMAL``, the
#: bounded numbers and the keys (``test_usageline`` builds the worst case and checks it).
MAX_LINE_BYTES: Final = 4608
_MAX_INT_DIGITS: Final = 19
_COUNTS: Final = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                  "reasoning_tokens", "tool_prompt_tokens", "input_characters")
_SOURCES: Final = frozenset(get_args(Source))
_OUTCOMES: Final = frozenset(get_args(Outcome))


class Cuts:
    """Counts the fields ``encode_line`` cut or dropped (the ledger's, read by its metric)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


def _str(text: str | None, cuts: Cuts | None) -> str:
    # Model names and ids come from clients and providers: bounded here like everywhere else.
    if text is None:
        return "null"
    if len(text) <= MAX_TEXT:
        quoted = _quote(text)
        if len(quoted) <= MAX_TEXT + 2:
            return quoted
    return _cut(text, cuts)


def _cut(text: str, cuts: Cuts | None) -> str:
    """The longest head of ``text`` that, with ``TRUNCATED`` after it, is ``MAX_TEXT`` bytes of
    JSON at most. Escapes are counted per character (6 or 12 bytes for what is not printable ASCII)."""
    if cuts is not None:
        cuts.n += 1
    room = MAX_TEXT - len(TRUNCATED)
    end = 0
    for ch in text[:room]:
        size = 1 if " " <= ch <= "~" and ch not in '"\\' else len(_quote(ch)) - 2
        if size > room:
            break
        room -= size
        end += 1
    return _quote(text[:end] + TRUNCATED)


def _int(value: int | None, cuts: Cuts | None) -> str:
    if value is None:
        return "null"
    text = str(int(value))
    if len(text) <= _MAX_INT_DIGITS:  # counts stop at 2^53 (usage.fields): only a bug gets past
        return text
    if cuts is not None:
        cuts.n += 1
    return "null"


def _dec(value: Decimal | None, cuts: Cuts | None,
         fmt: Callable[[Decimal], str] | None = None) -> str:
    if value is None or not value.is_finite():
        return "null"
    # The magnitude first: 9E+999999 (or 1E-999999) would print a million digits.
    if -MAX_DECIMAL < value.adjusted() < MAX_DECIMAL:
        text = format(value, "f") if fmt is None else fmt(value)
        if len(text) <= MAX_DECIMAL:
            return '"' + text + '"'
    if cuts is not None:
        cuts.n += 1
    return "null"


def _secs(value: float | None) -> str:
    """``repr(round(value, 6))``: three per line, and ``round`` was the line's costliest call.
    From 0.0001 up to 1e9 the same text comes from one fixed-point format: both round the exact
    binary value to 6 places the same way, and a decimal of at most 15 significant digits is
    its own shortest repr, printed without an exponent in that range (held to ``repr(round())``
    by a hypothesis test). Elsewhere (tiny, huge, not finite) the original expression."""
    if value is None:
        return "null"
    if 0.0001 <= value < 1e9:
        text = f"{value:.6f}".rstrip("0")
        return text + "0" if text[-1] == "." else text
    if not math.isfinite(value):
        return "null"
    return repr(round(value, 6))


def _modalities(pieces: tuple[tuple[str, str, int], ...], cuts: Cuts | None) -> str:
    """``{"input":{"text":9,"image":258},"output":{"text":12}}``, or null without a breakdown.
    Bounded like every field: known parts and modalities only, one count each (the last), and a
    count too long to be real is left out (counted as a cut)."""
    if not pieces:
        return "null"
    parts: dict[str, dict[str, str]] = {}
    for part, modality, tokens in pieces:
        if part not in MODALITY_PARTS or modality not in MODALITIES:
            continue
        text = str(int(tokens))
        if len(text) > _MAX_INT_DIGITS or tokens < 0:
            if cuts is not None:
                cuts.n += 1
            continue
        parts.setdefault(part, {})[modality] = text
    if not parts:
        return "null"
    return "{" + ",".join(
        _quote(p) + ":{" + ",".join(f"{_quote(m)}:{t}" for m, t in ms.items()) + "}"
        for p, ms in parts.items()) + "}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def iso_time(ts: float) -> str:
    """ISO 8601 UTC with microseconds, as ``datetime`` would print it, at a tenth of the cost."""
    sec = math.floor(ts)
    us = round((ts - sec) * 1_000_000)
    if us == 1_000_000:
        sec, us = sec + 1, 0
    return f"{_second(sec)}.{us:06d}Z"


@functools.lru_cache(maxsize=4)
def _second(sec: int) -> str:
    # Every line of one second shares this: gmtime and six formats were 2 of encode_line's 8 µs.
    t = time.gmtime(sec)
    return (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")


def encode_line(rec: RequestRecord, charge: Decimal | None, cuts: Cuts | None = None) -> bytes:
    """One line, ``\\n``-terminated. Strings are JSON-escaped, so a line never splits.

    Assembled by hand rather than ``json.dumps(dict)``: it runs once per request and this is
    three times cheaper; ``decode_line`` (plain ``json.loads``) and the tests keep it honest.
    ``cuts`` counts the fields cut to keep the line within ``MAX_LINE_BYTES``.
    """
    u = rec.usage
    c = cuts
    return (
        f'{{"time":"{iso_time(rec.started_at)}","request_id":{_str(rec.request_id, c)},'
        f'"lava_request_id":{_str(rec.lava_request_id, c)},"customer":{_str(rec.customer_id, c)},'
        f'"meter":{_str(rec.meter_slug, c)},"identity":{_str(rec.identity_via, c)},'
        f'"provider":{_str(rec.provider, c)},"api":{_str(rec.api.value, c)},'
        f'"model":{_str(rec.model, c)},"response_model":{_str(u.model, c)},'
        f'"response_id":{_str(u.response_id, c)},"status":{_int(rec.status, c)},'
        f'"stream":{_bool(rec.stream)},"input_tokens":{_int(u.input_tokens, c)},'
        f'"output_tokens":{_int(u.output_tokens, c)},'
        f'"cache_read_tokens":{_int(u.cache_read_tokens, c)},'
        f'"cache_write_tokens":{_int(u.cache_write_tokens, c)},'
        f'"reasoning_tokens":{_int(u.reasoning_tokens, c)},'
        f'"tool_prompt_tokens":{_int(u.tool_prompt_tokens, c)},'
        f'"modality_tokens":{_modalities(u.modality_tokens, c)},'
        f'"input_characters":{_int(u.input_characters, c)},'
        f'"audio_seconds":{_dec(u.audio_seconds, c)},"source":{_str(u.source, c)},'
        f'"partial":{_bool(rec.partial)},"outcome":{_str(rec.outcome, c)},'
        f'"error_code":{_str(rec.error_code, c)},"upstream_error":{_str(rec.upstream_error, c)},'
        f'"extractor_error":{_bool(rec.extractor_error)},"duration":{_secs(rec.duration)},'
        f'"ttfb":{_secs(rec.ttfb)},"overhead":{_secs(rec.overhead)},'
        f'"charge_usd":{_dec(charge, c, usd)}}}\n'
    ).encode()


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


def _modality_tokens(doc: dict[str, Any]) -> tuple[tuple[str, str, int], ...]:
    value = _opt(doc, "modality_tokens", dict)
    if value is None:
        return ()
    out = []
    for part, counts in value.items():
        if part not in MODALITY_PARTS or not isinstance(counts, dict):
            raise _Bad("modality_tokens")
        for modality, tokens in counts.items():
            if modality not in MODALITIES or type(tokens) is not int or tokens < 0:
                raise _Bad("modality_tokens")
            out.append((part, modality, tokens))
    return tuple(out)


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
            modality_tokens=_modality_tokens(doc),
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
