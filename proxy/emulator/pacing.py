"""The ``x-emulator-pace`` request header: per-request stream pacing over the gateway's default,
e.g. ``chunks=64,delay-ms=20,tokens=64`` (64 content chunks, 20 ms apart, a 64-token answer)."""

from __future__ import annotations

import dataclasses
from typing import Final

from ..errors import RequestRejected
from .providers import Pacing

HEADER: Final = "x-emulator-pace"
MAX_CHUNKS: Final = 100_000
MAX_TOKENS: Final = 1_000_000
MAX_DELAY_MS: Final = 60_000


class PaceInvalid(RequestRejected):
    code = "emulator_pace_invalid"


def parse_pace(value: str | None, default: Pacing) -> Pacing:
    if value is None or not value.strip():
        return default
    pacing = default
    for item in value.split(","):
        key, _, raw = item.strip().partition("=")
        try:
            number = float(raw) if key == "delay-ms" else int(raw)
        except ValueError as exc:
            raise PaceInvalid(f"{HEADER}: {item.strip()[:40]!r} is not key=number.") from exc
        if key == "chunks" and 1 <= number <= MAX_CHUNKS:
            pacing = dataclasses.replace(pacing, chunks=int(number))
        elif key == "delay-ms" and 0 <= number <= MAX_DELAY_MS:
            pacing = dataclasses.replace(pacing, delay=number / 1000)
        elif key == "tokens" and 1 <= number <= MAX_TOKENS:
            pacing = dataclasses.replace(pacing, output_tokens=int(number))
        else:
            raise PaceInvalid(f"{HEADER}: {item.strip()[:40]!r} is unknown or out of range "
                              f"(chunks 1-{MAX_CHUNKS}, delay-ms 0-{MAX_DELAY_MS}, "
                              f"tokens 1-{MAX_TOKENS}).")
    return pacing
