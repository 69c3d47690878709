"""Reads a few top-level members of a large JSON object without decoding all of it.

Embeddings are mostly floats, audio replies mostly base64: ``json.loads`` on them costs more
than the proxying, while ``usage``/``model``/``id`` sit near either end of the document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

import orjson

#: Below this size a full ``json.loads`` is as cheap as the scan.
MIN_FAST_BYTES: Final = 4096
#: How far into the document the front read looks.
HEAD_BYTES: Final = 4096
#: How many times a key name may appear as a string *value* before we give up looking for it.
_MAX_TRIES: Final = 8
_MAX_HEAD_MEMBERS: Final = 64
_WS: Final = b" \t\n\r"
_BACKSLASH: Final = 0x5C
_DECODER: Final = json.JSONDecoder()
#: Every ASCII digit to ``0``, every other byte to a space: a run of ``_LONG_INT`` in the result
#: is an integer literal of 19 digits or more somewhere in the document (or digits in a string).
_DIGITS: Final = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_INT: Final = b"0" * 19
_fast_loads = orjson.loads  # a module name, so a test can count the documents parsed

JsonDict = dict[str, object]


def parse_object(doc: bytes | str) -> JsonDict | None:
    """``json.loads`` that never raises and only answers objects: the same answer, ~4x faster.

    orjson parses (1.7 us for a 1.5 KB chat completion here, against 6.1 for ``json.loads``); the
    standard library parses wherever orjson's answer could differ from its own: what orjson
    refuses (``NaN``, ``1e400``, lone surrogates, UTF-16 or a BOM, nesting past 1,024; the library
    then accepts or refuses it as before) and a document holding 19 digits in a row, since orjson
    reads an integer beyond 64 bits as a float. That check is one C pass over the bytes (0.7 ns a
    byte). Held to ``json.loads`` by a hypothesis test (tests/usage/test_jsonscan.py).
    """
    if isinstance(doc, bytes) and doc.translate(_DIGITS).find(_LONG_INT) < 0:
        try:
            value = _fast_loads(doc)
        except orjson.JSONDecodeError:
            value = _stdlib(doc)
    else:
        value = _stdlib(doc)
    return value if isinstance(value, dict) else None


def _stdlib(doc: bytes | str) -> object:
    try:
        return json.loads(doc)
    except (ValueError, RecursionError):
        return None


def top_level(doc: bytes, keys: Sequence[str]) -> JsonDict | None:
    """The top-level members of ``doc`` named in ``keys`` (absent ones left out), or None if unsure.

    Members are read from the front (scalar members up to the first container) and from the back
    (the rest of the object from the last occurrence of a key). Contract, proved by a hypothesis
    test against ``json.loads``: for a valid JSON object whose keys are unique and written without
    ``\\u`` escapes (what every encoder emits), the answer is exactly what ``json.loads`` gives,
    or None, and then the caller parses the whole document. The back read is sound because a key
    at byte ``p`` is a member of the outermost object iff ``"{" + doc[p:]`` is one complete JSON
    object: a key nested ``d`` levels deeper leaves ``d`` closing brackets over ("extra data").
    """
    if not _starts_object(doc):
        return None
    head, complete = head_members(doc)
    found: JsonDict = {}
    pending: list[tuple[int, str]] = []
    for key in keys:
        if key in head:
            found[key] = head[key]
        elif not complete:
            pos = last_key(doc, key)
            if pos == -1:
                return None
            if pos is not None:
                pending.append((pos, key))
    if pending:
        rest = rest_of_object(doc, min(p for p, _ in pending))
        if rest is None:
            return None
        for _, key in pending:
            if key not in rest:
                return None  # its last occurrence is nested: an earlier one may be top-level
            found[key] = rest[key]
    return found


def tail_members(tail: bytes, keys: Sequence[str]) -> JsonDict:
    """Best effort for a document whose middle was dropped: members provable from its tail."""
    found: JsonDict = {}
    for key in keys:
        pos = last_key(tail, key)
        if pos is not None and pos >= 0:
            rest = rest_of_object(tail, pos)
            if rest is not None and key in rest:
                found[key] = rest[key]
    return found


def head_members(doc: bytes) -> tuple[JsonDict, bool]:
    """Scalar members from the front, up to the first container value; True if that was all."""
    text = _decode_prefix(doc, HEAD_BYTES)
    members: JsonDict = {}
    i = _skip_ws(text, 0)
    if text[i:i + 1] != "{":
        return members, False
    i += 1
    for _ in range(_MAX_HEAD_MEMBERS):
        i = _skip_ws(text, i)
        if text[i:i + 1] == "}" and not members:
            return members, True
        if text[i:i + 1] != '"':
            return members, False
        try:
            key, i = _DECODER.raw_decode(text, i)
        except ValueError:
            return members, False
        i = _skip_ws(text, i)
        if text[i:i + 1] != ":":
            return members, False
        i = _skip_ws(text, i + 1)
        if text[i:i + 1] in ("{", "[", ""):
            return members, False
        try:
            value, i = _DECODER.raw_decode(text, i)
        except (ValueError, RecursionError):
            return members, False
        i = _skip_ws(text, i)
        sep = text[i:i + 1]
        if sep not in ("}", ","):
            return members, False  # also a number cut short by the prefix: "12" of "123"
        members[key] = value
        if sep == "}":
            return members, True  # the outermost object closed: every member was scalar
        i += 1
    return members, False


def last_key(doc: bytes, key: str) -> int | None:
    """Byte offset of the last ``"key":`` in ``doc``; None if there is none; -1 if unsure."""
    needle = b'"' + key.encode() + b'"'
    end = len(doc)
    for _ in range(_MAX_TRIES):
        p = doc.rfind(needle, 0, end)
        if p < 0:
            return None
        if p > 0 and doc[p - 1] == _BACKSLASH:
            return -1  # inside a string, or after an escaped backslash: cannot tell cheaply
        q = p + len(needle)
        while q < len(doc) and doc[q] in _WS:
            q += 1
        if doc[q:q + 1] == b":":
            return p
        end = p  # the same text as a string value; look further back
    return -1


def rest_of_object(doc: bytes, start: int) -> JsonDict | None:
    """The members from ``start`` to the end, if they close the outermost object exactly."""
    i = start - 1
    while i >= 0 and doc[i] in _WS:
        i -= 1
    if i < 0 or doc[i] not in b"{,":
        return None
    try:
        text = doc[start:].decode()
    except UnicodeDecodeError:
        return None
    return parse_object("{" + text)


def _starts_object(doc: bytes) -> bool:
    i = 0
    while i < len(doc) and doc[i] in _WS:
        i += 1
    return doc[i:i + 1] == b"{"


def _decode_prefix(doc: bytes, limit: int) -> str:
    if len(doc) <= limit:
        cut = len(doc)
    else:
        cut = limit
        while cut > 0 and doc[cut] & 0xC0 == 0x80:  # never split a UTF-8 sequence
            cut -= 1
    try:
        return doc[:cut].decode()
    except UnicodeDecodeError:
        return ""


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\n\r":
        i += 1
    return i
