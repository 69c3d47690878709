"""Reading Lava's JSON into typed values: a small typed view of one object whose getters raise
``LavaProtocolError`` naming the field when the answer is not the documented shape. Fields Lava
may leave out (UNCONFIRMED in lava-api.md) have lenient optional getters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from .errors import LavaProtocolError

T = TypeVar("T")


class Obj:
    """A JSON object from Lava; ``what`` names it in error messages."""

    __slots__ = ("_doc", "_what")

    def __init__(self, doc: object, what: str) -> None:
        if not isinstance(doc, Mapping):
            raise LavaProtocolError(f"expected a JSON object for {what}, got "
                                    f"{type(doc).__name__}")
        self._doc: Mapping[str, Any] = doc
        self._what = what

    def _bad(self, key: str, want: str) -> LavaProtocolError:
        return LavaProtocolError(f"{self._what}.{key}: expected {want}")

    def has(self, key: str) -> bool:
        return self._doc.get(key) is not None

    def raw(self, key: str) -> object:
        return self._doc.get(key)

    def text(self, key: str) -> str:
        value = self._doc.get(key)
        if not isinstance(value, str):
            raise self._bad(key, "a string")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self._doc.get(key) is None else self.text(key)

    def integer(self, key: str, default: int | None = None) -> int:
        value = self._doc.get(key)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(key, "a number")
        return int(value)

    def flag(self, key: str, default: bool | None = None) -> bool:
        value = self._doc.get(key)
        if value is None and default is not None:
            return default
        if not isinstance(value, bool):
            raise self._bad(key, "true or false")
        return value

    def dec(self, key: str, default: Decimal | None = None) -> Decimal:
        """Money and amounts: Lava sends strings (``"0.0639100000"``); numbers are accepted."""
        value = self._doc.get(key)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self._bad(key, "a decimal string")
        try:
            return Decimal(str(value))
        except InvalidOperation as exc:
            raise self._bad(key, "a decimal string") from exc

    def opt_dec(self, key: str) -> Decimal | None:
        return None if self._doc.get(key) is None else self.dec(key)

    def when(self, key: str) -> datetime:
        value = self.text(key)
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise self._bad(key, "an ISO 8601 timestamp") from exc

    def opt_when(self, key: str) -> datetime | None:
        return None if self._doc.get(key) is None else self.when(key)

    def obj(self, key: str) -> Obj:
        return Obj(self._doc.get(key), f"{self._what}.{key}")

    def opt_obj(self, key: str) -> Obj | None:
        return None if self._doc.get(key) is None else self.obj(key)

    def items(self, key: str, item: Callable[[object], T], *, default_empty: bool = True
              ) -> tuple[T, ...]:
        value = self._doc.get(key)
        if value is None and default_empty:
            return ()
        if not isinstance(value, list):
            raise self._bad(key, "a list")
        return tuple(item(v) for v in value)

    def str_map(self, key: str) -> dict[str, str] | None:
        value = self._doc.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self._bad(key, "an object")
        return {str(k): str(v) for k, v in value.items()}
