"""Lava-shaped identifiers: ``req_`` + a 26-character ULID (48-bit ms time, 80 random bits)."""

from __future__ import annotations

import os
import time
from typing import Final

#: Crockford base32, the ULID alphabet (no I, L, O, U).
ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(millis: int, randomness: bytes) -> str:
    """Encode a ULID. ``millis`` must fit 48 bits and ``randomness`` be exactly 10 bytes."""
    if not 0 <= millis < 1 << 48:
        raise ValueError("ULID time must be a 48-bit count of milliseconds")
    if len(randomness) != 10:
        raise ValueError("ULID randomness must be 10 bytes")
    value = (millis << 80) | int.from_bytes(randomness, "big")
    chars = []
    for _ in range(26):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def request_id() -> str:
    """A fresh ``req_<ULID>``, as Lava puts in ``x-lava-request-id``."""
    return "req_" + ulid(time.time_ns() // 1_000_000, os.urandom(10))


def suffix(request_id_: str) -> str:
    """The ULID part of a request id, reused to make provider ids (``chatcmpl-…``) unique."""
    return request_id_.removeprefix("req_")
