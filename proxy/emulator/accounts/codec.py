"""Records ↔ store documents: an encoder and a decoder compiled once per record type from its
annotations, and ``Table``, a typed view of one kind of document, scoped to one merchant.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Generic, TypeVar

from ..store import Doc, Json, Store

T = TypeVar("T")
_Decode = Callable[[Json], Any]
_Encode = Callable[[Any], Json]

#: Decoded records a ``Table`` keeps, keyed by the document they came from; bounded.
_CACHE_ENTRIES = 4096


def encode(value: object) -> Json:
    """Any record value as JSON, found by inspection (slow path; tables use ``encoder``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot store a {type(value).__name__}")


def encoder(tp: Any) -> _Encode:
    """A function turning values of type ``tp`` into JSON: Decimals as strings, tuples as lists."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Decimal:
        return str
    if origin in (typing.Union, types.UnionType):
        inner = [encoder(a) for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {tp!r}")
        one = inner[0]
        return lambda v: None if v is None else one(v)
    if origin is tuple:
        items = [encoder(a) for a in args if a is not Ellipsis]
        if len(args) == 2 and args[1] is Ellipsis:
            item = items[0]
            return lambda v: [item(x) for x in v]
        return lambda v: [e(x) for e, x in zip(items, v, strict=True)]
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        fields = [(f.name, encoder(hints[f.name])) for f in dataclasses.fields(tp)]
        return lambda v: {name: enc(getattr(v, name)) for name, enc in fields}
    return lambda v: v


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

    __slots__ = ("_cache", "_decode", "_encode", "_key", "kind", "store")

    def __init__(self, store: Store, kind: str, cls: type[T], key: Callable[[T], str]) -> None:
        self.store = store
        self.kind = kind
        self._decode = _record_decoder(cls)
        self._encode = encoder(cls)
        self._key = key
        # key → (document, record decoded from it). A store that hands back the very document
        # it was given (MemoryStore) then skips decoding; an identity check keeps it exact.
        self._cache: dict[str, tuple[Doc, T]] = {}

    def get(self, key: str) -> T | None:
        doc = self.store.get(self.kind, key)
        if doc is None:
            return None
        hit = self._cache.get(key)
        if hit is not None and hit[0] is doc:
            return hit[1]
        record = typing.cast(T, self._decode(doc))
        self._remember(key, doc, record)
        return record

    def put(self, record: T) -> T:
        doc = typing.cast(Doc, self._encode(record))
        key = self._key(record)
        self.store.put(self.kind, key, doc)
        self._remember(key, doc, record)
        return record

    def _remember(self, key: str, doc: Doc, record: T) -> None:
        if len(self._cache) >= _CACHE_ENTRIES:
            self._cache.clear()
        self._cache[key] = (doc, record)

    def delete(self, key: str) -> bool:
        self._cache.pop(key, None)
        return self.store.delete(self.kind, key)

    def scan(self, *, before: str | None = None) -> Iterator[T]:
        for doc in self.store.scan(self.kind, before=before):
            yield typing.cast(T, self._decode(doc))

    def count(self) -> int:
        return self.store.count(self.kind)

    def oldest(self) -> str | None:
        return self.store.oldest(self.kind)
