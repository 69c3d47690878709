"""The document store on SQLite (stdlib ``sqlite3``, WAL): the same contract as ``MemoryStore``,
surviving a restart. One connection, used from the event loop's thread only.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from .store import Doc, Json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    doc  TEXT NOT NULL,
    UNIQUE (kind, key)
);
CREATE INDEX IF NOT EXISTS docs_kind_seq ON docs (kind, seq);
"""

#: Rows fetched per round trip while scanning: bounded memory whatever the table holds.
_BATCH = 500
#: What ``fields`` puts into a JSON path: record attribute names only.
_FIELD = re.compile(r"[a-z_][a-z0-9_]{0,63}\Z")


class StoreError(RuntimeError):
    """The database file cannot be opened or written."""


class SqliteStore:
    __slots__ = ("_db", "_in_tx")

    def __init__(self, path: str | Path) -> None:
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly
            # the ``with store.transaction()`` block and lone writes autocommit.
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the emulator database {str(path)!r}: {exc}") from exc
        self._in_tx = False

    def get(self, kind: str, key: str) -> Doc | None:
        row = self._db.execute("SELECT doc FROM docs WHERE kind = ? AND key = ?",
                               (kind, key)).fetchone()
        return None if row is None else _load(row[0])

    def put(self, kind: str, key: str, doc: Doc) -> None:
        text = json.dumps(doc, separators=(",", ":"))
        # An upsert keeps ``seq`` (the insertion position) when the key exists.
        self._db.execute(
            "INSERT INTO docs (kind, key, doc) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc", (kind, key, text))

    def delete(self, kind: str, key: str) -> bool:
        cur = self._db.execute("DELETE FROM docs WHERE kind = ? AND key = ?", (kind, key))
        return cur.rowcount > 0

    def scan(self, kind: str, *, before: str | None = None) -> Iterator[Doc]:
        if before is None:
            last = None
        else:
            row = self._db.execute("SELECT seq FROM docs WHERE kind = ? AND key = ?",
                                   (kind, before)).fetchone()
            if row is None:
                return
            last = int(row[0])
        while True:
            if last is None:
                rows = self._db.execute(
                    "SELECT seq, doc FROM docs WHERE kind = ? ORDER BY seq DESC LIMIT ?",
                    (kind, _BATCH)).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT seq, doc FROM docs WHERE kind = ? AND seq < ? ORDER BY seq DESC "
                    "LIMIT ?", (kind, last, _BATCH)).fetchall()
            for seq, text in rows:
                yield _load(text)
                last = int(seq)
            if len(rows) < _BATCH:
                return

    def fields(self, kind: str, names: tuple[str, ...], *,
               before: str | None = None) -> Iterator[tuple[Json, ...]]:
        for name in names:
            if not _FIELD.match(name):
                raise ValueError(f"not a field name: {name!r}")
        picked = ", ".join(f"json_extract(doc, '$.{n}')" for n in names)
        last = self._seq(kind, before)
        if last == -1:
            return
        while True:
            if last is None:
                rows = self._db.execute(
                    f"SELECT seq, {picked} FROM docs WHERE kind = ? ORDER BY seq DESC LIMIT ?",  # noqa: S608
                    (kind, _BATCH)).fetchall()
            else:
                rows = self._db.execute(
                    f"SELECT seq, {picked} FROM docs WHERE kind = ? AND seq < ? "  # noqa: S608
                    "ORDER BY seq DESC LIMIT ?", (kind, last, _BATCH)).fetchall()
            for seq, *values in rows:
                yield tuple(values)
                last = int(seq)
            if len(rows) < _BATCH:
                return

    def _seq(self, kind: str, key: str | None) -> int | None:
        """The position of ``key`` (``None`` for no key, -1 for a key that is not there)."""
        if key is None:
            return None
        row = self._db.execute("SELECT seq FROM docs WHERE kind = ? AND key = ?",
                               (kind, key)).fetchone()
        return -1 if row is None else int(row[0])

    def count(self, kind: str) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM docs WHERE kind = ?", (kind,)).fetchone()
        return int(row[0])

    def oldest(self, kind: str) -> str | None:
        row = self._db.execute("SELECT key FROM docs WHERE kind = ? ORDER BY seq LIMIT 1",
                               (kind,)).fetchone()
        return None if row is None else str(row[0])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._in_tx:
            yield  # joins the enclosing transaction
            return
        self._in_tx = True
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._in_tx = False

    def transaction(self) -> AbstractContextManager[None]:
        return self._transaction()

    def close(self) -> None:
        self._db.close()


def _load(text: str) -> Doc:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise StoreError("emulator database holds a document that is not a JSON object")
    return doc
