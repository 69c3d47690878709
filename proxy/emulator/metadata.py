"""Lava request metadata (``x-lava-metadata`` header or ``metadata`` query): parse and validate.

Rules from ../shared/reference/lava-api.md 3.2: a JSON object of at most 100 pairs; keys and values
are strings of 1-255 characters; keys only ASCII letters, digits and underscore. Lava's reaction to
a violation is undocumented; the emulator refuses with a 400 so mistakes surface in development.
"""

from __future__ import annotations

import json
import re
from typing import Final

from ..errors import MetadataInvalid

MAX_PAIRS: Final = 100
MAX_CHARS: Final = 255
#: Comfortably above 100 pairs of 255+255 characters, escapes included.
MAX_RAW_CHARS: Final = 64 * 1024
_KEY: Final = re.compile(r"[A-Za-z0-9_]+")


def parse_metadata(header: str | None, query: str | None) -> dict[str, str]:
    """The metadata of one request; the header wins when both are given. ``{}`` when neither is."""
    raw = header if header is not None else query
    if raw is None:
        return {}
    source = "x-lava-metadata" if header is not None else "metadata"
    if len(raw) > MAX_RAW_CHARS:
        raise MetadataInvalid(f"{source} is longer than {MAX_RAW_CHARS} characters.")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise MetadataInvalid(f"{source} must be a JSON object, e.g. {{\"user_id\":\"u_1\"}}.") \
            from exc
    if not isinstance(doc, dict):
        raise MetadataInvalid(f"{source} must be a JSON object, e.g. {{\"user_id\":\"u_1\"}}.")
    if len(doc) > MAX_PAIRS:
        raise MetadataInvalid(f"{source} has {len(doc)} pairs; at most {MAX_PAIRS} are allowed.")
    out: dict[str, str] = {}
    for key, value in doc.items():
        if not 1 <= len(key) <= MAX_CHARS or not _KEY.fullmatch(key):
            raise MetadataInvalid(
                f"{source} key {key[:40]!r} is invalid: use 1-{MAX_CHARS} ASCII letters, digits "
                "or underscores.")
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_CHARS:
            raise MetadataInvalid(
                f"{source} value of {key!r} must be a string of 1-{MAX_CHARS} characters.")
        out[key] = value
    return out
