"""A wrapper for secret strings (merchant key, forward tokens) that never prints its value."""

from __future__ import annotations

from typing import Final


class Secret:
    """Holds a secret; ``repr``/``str`` show only a kind hint, ``reveal()`` gives the value.

    >>> s = Secret("aks_live_abcdef")
    >>> s
    Secret('aks_live_…')
    >>> s.reveal()
    'aks_live_abcdef'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value: Final = value

    def reveal(self) -> str:
        return self._value

    def hint(self) -> str:
        """The key's public prefix (``aks_live_``/``aks_test_``), useful in messages, never more."""
        for prefix in ("aks_live_", "aks_test_", "lava_sk_", "lava_wk_"):
            if self._value.startswith(prefix):
                return prefix + "…"
        return "…"

    def __repr__(self) -> str:
        return f"Secret({self.hint()!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str:  # pragma: no cover - refusing to pickle is the point
        raise TypeError("Secret values are not picklable")
