"""Reading the management API's JSON bodies and query strings into typed values; every problem is
a 400 naming the field. Lenient where Lava's SDKs differ (numbers or strings for amounts)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar, cast

from ...identity import validate_metadata_pairs
from ..accounts import DEFAULT_PAGE, MAX_PAGE, Invalid
from ..store import Json

S = TypeVar("S", bound=str)
Body = Mapping[str, Json]

MAX_TEXT = 255
MAX_LIST = 100


def _bad(field: str, what: str) -> Invalid:
    return Invalid(f"{field}: {what}", code="invalid_parameter")


def text(body: Body, field: str, *, required: bool = False, max_len: int = MAX_TEXT) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise Invalid(f"{field} is required", code="missing_parameter")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise _bad(field, f"must be a non-empty string of at most {max_len} characters")
    return value


def need_text(body: Body, field: str, *, max_len: int = MAX_TEXT) -> str:
    value = text(body, field, max_len=max_len)
    if value is None:
        raise Invalid(f"{field} is required", code="missing_parameter")
    return value


def decimal(body: Body, field: str, *, required: bool = False) -> Decimal | None:
    value = body.get(field)
    if value is None:
        if required:
            raise Invalid(f"{field} is required", code="missing_parameter")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(field, "must be a decimal string such as \"3.00\"")
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:
        raise _bad(field, "must be a decimal string such as \"3.00\"") from exc
    if not d.is_finite() or abs(d) > Decimal(10) ** 15:
        raise _bad(field, "must be a finite amount")
    return d


def need_decimal(body: Body, field: str) -> Decimal:
    value = decimal(body, field)
    if value is None:
        raise Invalid(f"{field} is required", code="missing_parameter")
    return value


def choice(body: Body, field: str, options: Sequence[S], default: S | None = None) -> S:
    value = body.get(field)
    if value is None and default is not None:
        return default
    for option in options:
        if value == option:
            return option
    raise _bad(field, "must be one of " + ", ".join(options))


def integer(body: Body, field: str, *, low: int = 0, high: int = 2**53) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(field, f"must be an integer from {low} to {high}")
    return value


def strings(body: Body, field: str) -> list[str] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_LIST or not all(
            isinstance(v, str) and 0 < len(v) <= MAX_TEXT for v in value):
        raise _bad(field, f"must be a list of at most {MAX_LIST} ids")
    return [str(v) for v in value]


def objects(body: Body, field: str) -> list[Mapping[str, Json]] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_LIST or not all(
            isinstance(v, dict) for v in value):
        raise _bad(field, f"must be a list of at most {MAX_LIST} objects")
    return [v for v in value if isinstance(v, dict)]


def metadata(body: Body, field: str = "metadata") -> dict[str, str] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(field, "must be an object of string values")
    problem = validate_metadata_pairs(cast(Mapping[object, object], value))
    if problem is not None:
        raise _bad(field, problem)
    return {k: str(v) for k, v in value.items()}


def any_metadata(body: Body, field: str = "metadata") -> dict[str, str] | None:
    """A customer's ``metadata``: any JSON object (the Node SDK types it ``Record<string,
    unknown>`` and Lava documents no rule for it). Values that are not strings are kept as their
    JSON text; size is bounded by ``MAX_LIST`` keys and the request body limit."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > MAX_LIST:
        raise _bad(field, f"must be an object of at most {MAX_LIST} keys")
    return {str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
            for k, v in value.items()}


def parse_body(raw: bytes) -> dict[str, Json]:
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise Invalid("the request body is not valid JSON", code="invalid_json") from exc
    if not isinstance(doc, dict):
        raise Invalid("the request body must be a JSON object", code="invalid_json")
    return doc


# -- query strings ----------------------------------------------------------------------

def limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_PAGE
    # ASCII digits only: str.isdigit() also takes "²" and other digits int() refuses.
    digits = raw.lstrip("0")
    if not (raw.isascii() and raw.isdigit()) or not digits:
        raise _bad("limit", "must be a whole number of at least 1")
    # Lava documents a largest page, not a refusal: more than that is answered with that many
    # (``has_more`` and ``next_cursor`` lead on). A thousand digits is "more", not an int() to
    # parse (Python refuses to convert over 4,300 digits).
    return MAX_PAGE if len(digits) > 9 else min(int(digits), MAX_PAGE)


def timestamp(query: Mapping[str, str], field: str) -> datetime | None:
    raw = query.get(field)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError as exc:
        raise _bad(field, "must be an ISO 8601 timestamp, e.g. 2026-05-01T00:00:00-05:00") from exc
    # A naive timestamp means UTC; its offset otherwise decides the day buckets.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def metadata_filters(query: Mapping[str, str]) -> list[tuple[str, str]]:
    """``metadata_filters``: a JSON array of ``[key, value]`` pairs (an object is accepted too)."""
    raw = query.get("metadata_filters")
    if raw is None:
        return []
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise _bad("metadata_filters", 'must be JSON like [["user_id","123"]]') from exc
    pairs = list(doc.items()) if isinstance(doc, dict) else doc
    if not isinstance(pairs, list) or len(pairs) > MAX_LIST:
        raise _bad("metadata_filters", 'must be JSON like [["user_id","123"]]')
    out: list[tuple[str, str]] = []
    for pair in pairs:
        if (not isinstance(pair, list | tuple) or len(pair) != 2
                or not all(isinstance(x, str) for x in pair)):
            raise _bad("metadata_filters", "each filter must be a [key, value] pair of strings")
        out.append((pair[0], pair[1]))
    return out
