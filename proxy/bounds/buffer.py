"""``BodyBuffer``: a request body being read whole, counted in the ``BodyBudget`` byte for byte as it
arrives (what is held, not what was announced), and let go of at once when it is refused.

Why a holder and not a local list: a refused body (408 stalled, 413, 503) leaves its reader by an
exception, and that exception is kept (``RequestContext.error``, for the record) with a traceback
that keeps the reader's frame, and so its locals, alive. A list of chunks in that frame stayed
alive with it, inside a reference cycle only a full garbage collection frees: eight 31 MiB bodies
refused three times held ~750 MB (issue 24). ``release`` empties the holder before the exception
leaves, so whatever keeps the frame keeps an empty buffer.
"""

from __future__ import annotations

from .budget import BodyBudget


class BodyBuffer:
    __slots__ = ("__weakref__", "_budget", "_chunks", "size")

    def __init__(self, budget: BodyBudget) -> None:
        self._budget = budget
        self._chunks: list[bytes] = []
        #: Bytes held now, all of them counted in the budget.
        self.size = 0

    async def add(self, chunk: bytes) -> None:
        """Hold ``chunk``, once the budget has room for it (waits briefly; raises
        ``BodyBufferFull``, the chunk not held)."""
        await self._budget.take(len(chunk))
        self._chunks.append(chunk)
        self.size += len(chunk)

    def join(self) -> tuple[bytes, int]:
        """The whole body and the room it holds, which passes to the caller (who gives it back when
        the request ends); the buffer is empty after."""
        chunks, size = self._chunks, self.size
        self._chunks, self.size = [], 0
        # One copy while joining (the chunks go when this returns): the same peak as before the
        # holder, for a moment; the count stays at one body's size.
        return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), size

    def release(self) -> None:
        """Drop every chunk and give their room back (the body was refused, or its reader cancelled)."""
        self._chunks = []
        size, self.size = self.size, 0
        self._budget.give(size)
