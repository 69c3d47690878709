"""The extractor for non-streamed JSON responses: buffer the body (bounded), read it at the end."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

from . import jsonscan
from .base import Usage

#: Bodies larger than this are not kept whole: only their first and last bytes are.
DEFAULT_MAX_JSON_BYTES: Final = 8 << 20
_HEAD_KEEP: Final = jsonscan.HEAD_BYTES
_TAIL_KEEP: Final = 256 << 10

Reader = Callable[[jsonscan.JsonDict], Usage]


class JsonExtractor:
    """Collects a JSON body and hands its top-level ``keys`` to ``read`` at ``finish``.

    Large bodies go through ``jsonscan.top_level`` (decode only the members needed) and fall back
    to a full parse when that is unsure. Past ``max_bytes`` only the head and a rolling tail are
    kept, and whatever the tail proves is used: a usage object at the end survives.
    """

    __slots__ = ("_done", "_head", "_keys", "_max", "_parts", "_read", "_size", "_tail",
                 "_tail_size", "_truncated")

    def __init__(self, read: Reader, keys: Sequence[str], *,
                 max_bytes: int = DEFAULT_MAX_JSON_BYTES) -> None:
        self._read = read
        self._keys = tuple(keys)
        self._max = max(max_bytes, _HEAD_KEEP + _TAIL_KEEP)
        self._parts: list[bytes] = []
        self._size = 0
        self._truncated = False
        self._head = b""
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self._done: Usage | None = None

    def feed(self, chunk: bytes) -> None:
        if not chunk or self._done is not None:
            return
        if not self._truncated:
            self._parts.append(chunk)
            self._size += len(chunk)
            if self._size > self._max:
                whole = b"".join(self._parts)
                self._parts.clear()
                self._truncated = True
                self._head = whole[:_HEAD_KEEP]
                self._push_tail(whole[-_TAIL_KEEP:])
            return
        self._push_tail(chunk)

    def finish(self) -> Usage:
        if self._done is None:
            self._done = self._read(self._members())
            self._parts.clear()
            self._tail.clear()
        return self._done

    def _members(self) -> jsonscan.JsonDict:
        if self._truncated:
            found = jsonscan.tail_members(b"".join(self._tail)[-_TAIL_KEEP:], self._keys)
            head, _ = jsonscan.head_members(self._head)
            return {k: head[k] for k in self._keys if k in head} | found
        doc = b"".join(self._parts)
        if len(doc) >= jsonscan.MIN_FAST_BYTES:
            members = jsonscan.top_level(doc, self._keys)
            if members is not None:
                return members
        return jsonscan.parse_object(doc) or {}

    def _push_tail(self, piece: bytes) -> None:
        self._tail.append(piece)
        self._tail_size += len(piece)
        while len(self._tail) > 1 and self._tail_size - len(self._tail[0]) >= _TAIL_KEEP:
            self._tail_size -= len(self._tail.popleft())
