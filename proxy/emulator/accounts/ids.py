"""Object ids in Lava's style (a type prefix plus a time-ordered ULID) and the timestamp format
the accounts print."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from ..ids import ulid


def new_id(prefix: str, now: float) -> str:
    """``<prefix>_<ULID>`` stamped with ``now`` (the accounts' clock, settable in tests)."""
    return f"{prefix}_{ulid(int(now * 1000) & ((1 << 48) - 1), os.urandom(10))}"


def iso(ts: float) -> str:
    """Unix seconds → ISO 8601 UTC with milliseconds, the way Lava prints timestamps."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def iso_or_none(ts: float | None) -> str | None:
    return None if ts is None else iso(ts)
