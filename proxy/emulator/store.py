"""Where the local Lava keeps its records: a tiny document store (kind, key) → JSON object, in
insertion order, with all-or-nothing transactions. ``MemoryStore`` here; SQLite in ``store_sqlite``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Json = None | bool | int | float | str | list["Json"] | dict[str, "Json"]
Doc = dict[str, Json]


class Store(Protocol):
    """Every implementation keeps documents of a kind in insertion order; ``put`` on an existing
    key replaces the document in place (its position is kept). Docs are never mutated after ``put``.
    """

    def get(self, kind: str, key: str) -> Doc | None: ...

    def put(self, kind: str, key: str, doc: Doc) -> None: ...

    def delete(self, kind: str, key: str) -> bool: ...

    def scan(self, kind: str, *, before: str | None = None) -> Iterator[Doc]:
        """Newest first; with ``before``, only the documents inserted before that key."""
        ...

    def fields(self, kind: str, names: tuple[str, ...], *,
               before: str | None = None) -> Iterator[tuple[Json, ...]]:
        """Like ``scan``, but only the top-level fields ``names`` of each document (``None``
        where one is missing): a listing that reads a few fields of many documents skips
        loading the rest (SQLite reads them with ``json_extract``)."""
        ...

    def count(self, kind: str) -> int: ...

    def oldest(self, kind: str) -> str | None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """All writes inside commit together, or none do if the block raises. A transaction
        opened inside another joins it: the outermost block decides."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """Dicts keep insertion order, which is all the ordering the store promises."""

    __slots__ = ("_journal", "_kinds")

    def __init__(self) -> None:
        self._kinds: dict[str, dict[str, Doc]] = {}
        # (kind, key, previous doc or None, index if deleted) per write in a transaction: undo log.
        self._journal: list[tuple[str, str, Doc | None, int | None]] | None = None

    def get(self, kind: str, key: str) -> Doc | None:
        return self._kinds.get(kind, {}).get(key)

    def put(self, kind: str, key: str, doc: Doc) -> None:
        docs = self._kinds.setdefault(kind, {})
        self._remember(kind, key, docs)
        docs[key] = doc

    def delete(self, kind: str, key: str) -> bool:
        docs = self._kinds.get(kind)
        if docs is None or key not in docs:
            return False
        self._remember(kind, key, docs, deleting=True)
        del docs[key]
        return True

    def scan(self, kind: str, *, before: str | None = None) -> Iterator[Doc]:
        docs = self._kinds.get(kind, {})
        keys = list(reversed(docs))  # a snapshot: callers may write while iterating
        if before is not None:
            try:
                keys = keys[keys.index(before) + 1:]
            except ValueError:
                return
        for key in keys:
            doc = docs.get(key)
            if doc is not None:
                yield doc

    def fields(self, kind: str, names: tuple[str, ...], *,
               before: str | None = None) -> Iterator[tuple[Json, ...]]:
        for doc in self.scan(kind, before=before):
            yield tuple(map(doc.get, names))

    def count(self, kind: str) -> int:
        return len(self._kinds.get(kind, {}))

    def oldest(self, kind: str) -> str | None:
        return next(iter(self._kinds.get(kind, {})), None)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._journal is not None:
            yield  # joins the enclosing transaction
            return
        self._journal = []
        try:
            yield
        except BaseException:
            self._undo(self._journal)
            raise
        finally:
            self._journal = None

    def transaction(self) -> AbstractContextManager[None]:
        return self._transaction()

    def close(self) -> None:
        self._kinds.clear()

    def _remember(self, kind: str, key: str, docs: dict[str, Doc], *, deleting: bool = False) -> None:
        if self._journal is None:
            return
        # A replaced key keeps its place by itself; a deleted one needs its index to be put back.
        index = 0
        if deleting and next(iter(docs)) != key:  # evicting the oldest is the common delete
            index = list(docs).index(key)
        self._journal.append((kind, key, docs.get(key), index if deleting else None))

    def _undo(self, journal: list[tuple[str, str, Doc | None, int | None]]) -> None:
        for kind, key, previous, index in reversed(journal):
            docs = self._kinds.setdefault(kind, {})
            if previous is None:
                docs.pop(key, None)
            elif index is None:
                docs[key] = previous
            else:
                items = list(docs.items())
                items.insert(index, (key, previous))
                self._kinds[kind] = dict(items)


def open_store(path: str | None) -> Store:
    """SQLite at ``path`` (created if missing), else a fresh in-memory store."""
    if path is None:
        return MemoryStore()
    from .store_sqlite import SqliteStore

    return SqliteStore(path)
