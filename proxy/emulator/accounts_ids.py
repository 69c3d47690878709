"""Object ids in Lava's style: a type prefix plus a ULID (time-ordered, 26 Crockford base32 chars),
and the clock/time helpers the accounts share."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Final

_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now: float) -> str:
    """48 bits of milliseconds then 80 random bits, big-endian base32: sorts by creation time."""
    value = (int(now * 1000) & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str, now: float) -> str:
    return f"{prefix}_{ulid(now)}"


def iso(ts: float) -> str:
    """Unix seconds → ISO 8601 UTC with milliseconds, the way Lava prints timestamps."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def iso_or_none(ts: float | None) -> str | None:
    return None if ts is None else iso(ts)
