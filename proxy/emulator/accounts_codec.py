"""Records ↔ store documents: a decoder compiled once per record type from its annotations, and
``Table``, a typed view of one kind of document, scoped to one merchant.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Generic, TypeVar

from .store import Doc, Json, Store

T = TypeVar("T")
_Decode = Callable[[Json], Any]


def encode(value: object) -> Json:
    """A record (or any value inside one) as JSON: Decimals as strings, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot store a {type(value).__name__}")


def decoder(tp: Any) -> _Decode:
    """A function turning ``encode(x)`` back into ``x`` for values of type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Decimal:
        return lambda v: Decimal(str(v))
    if origin in (typing.Union, types.UnionType):
        inner = [decoder(a) for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {tp!r}")
        one = inner[0]
        return lambda v: None if v is None else one(v)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = decoder(args[0])
            return lambda v: tuple(item(x) for x in _as_list(v))
        items = [decoder(a) for a in args]
        return lambda v: tuple(d(x) for d, x in zip(items, _as_list(v), strict=True))
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _record_decoder(tp)
    if tp is float:
        return lambda v: float(v) if isinstance(v, int | float) else v
    # str, int, bool, Literal[...]: JSON already holds them as they are.
    return lambda v: v


def _as_list(v: Json) -> list[Json]:
    if not isinstance(v, list):
        raise TypeError("stored value should be a list")
    return v


def _record_decoder(cls: type[Any]) -> _Decode:
    hints = typing.get_type_hints(cls)
    fields = [(f.name, decoder(hints[f.name]),
               f.default is not dataclasses.MISSING) for f in dataclasses.fields(cls)]

    def decode(v: Json) -> Any:
        if not isinstance(v, dict):
            raise TypeError(f"stored {cls.__name__} should be an object")
        # Fields missing from older documents take their declared default.
        return cls(**{name: dec(v[name]) for name, dec, has_default in fields
                      if name in v or not has_default})

    return decode


class Table(Generic[T]):
    """One record type in a store under ``kind`` (already scoped: ``"meter:<merchant>"``)."""

    __slots__ = ("_decode", "_key", "kind", "store")

    def __init__(self, store: Store, kind: str, cls: type[T], key: Callable[[T], str]) -> None:
        self.store = store
        self.kind = kind
        self._decode = _record_decoder(cls)
        self._key = key

    def get(self, key: str) -> T | None:
        doc = self.store.get(self.kind, key)
        return None if doc is None else typing.cast(T, self._decode(doc))

    def put(self, record: T) -> T:
        doc = encode(record)
        self.store.put(self.kind, self._key(record), typing.cast(Doc, doc))
        return record

    def delete(self, key: str) -> bool:
        return self.store.delete(self.kind, key)

    def scan(self, *, before: str | None = None) -> Iterator[T]:
        for doc in self.store.scan(self.kind, before=before):
            yield typing.cast(T, self._decode(doc))

    def count(self) -> int:
        return self.store.count(self.kind)

    def oldest(self) -> str | None:
        return self.store.oldest(self.kind)
