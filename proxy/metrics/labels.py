"""Bounded label values: the first N distinct values pass through, later ones become ``__overflow__``.

Cardinality is capped by construction (peers.md §4: LiteLLM's unbounded end-user and junk-model
series), so a client that invents a model name per request cannot grow the scrape without limit.
"""

from __future__ import annotations

from typing import Final

#: The value that stands for every label value past the cap.
OVERFLOW: Final = "__overflow__"
#: Longer values are not plausible ids or model names: they count as overflow too.
MAX_VALUE_LENGTH: Final = 128
#: Distinct meter slugs kept apart (in metrics and in ``/usage``): slugs may come from a request
#: header, and unlike customers they have no config knob.
MAX_METERS: Final = 1000


class LabelCap:
    """Admits at most ``limit`` distinct non-empty values; ``""`` always passes (it means "none").

    >>> cap = LabelCap(1)
    >>> cap.admit("gpt-5"), cap.admit("gpt-5"), cap.admit("claude"), cap.admit("")
    ('gpt-5', 'gpt-5', '__overflow__', '')
    """

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def admit(self, value: str) -> str:
        """``value`` itself if it is (or may become) one of the admitted values, else ``OVERFLOW``."""
        if value in self._seen or value == "":
            return value
        if len(self._seen) >= self._limit or len(value) > MAX_VALUE_LENGTH or value == OVERFLOW:
            return OVERFLOW
        self._seen.add(value)
        return value

    def __len__(self) -> int:
        return len(self._seen)
