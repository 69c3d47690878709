"""Reads usage from a compressed response: an incremental zlib decoder in front of an extractor.

Only the extractor's copy is decoded, and its size is bounded (a zip bomb stops the extraction).
"""

from __future__ import annotations

import zlib
from typing import Final

from .base import Extractor, Usage

#: Decoded bytes read at most per response.
DEFAULT_MAX_DECODED: Final = 64 << 20
#: Content codings zlib reads. ``deflate`` is zlib-wrapped by RFC 9110, raw now and then in
#: practice: the first bytes are kept so a header error can be retried as raw deflate.
CODINGS: Final = frozenset({"gzip", "x-gzip", "deflate"})
_MAX_MEMBERS: Final = 16      # concatenated gzip members are legal; unbounded ones are not sane
_RETRY_KEEP: Final = 1024
_AUTO_HEADER: Final = 32 + zlib.MAX_WBITS   # gzip or zlib header, detected
_RAW_DEFLATE: Final = -zlib.MAX_WBITS


def coding_of(content_encoding: str | None) -> str | None:
    """``""`` for identity, the coding when zlib can read it, None when it cannot (br, zstd…)."""
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return ""
    return coding if coding in CODINGS else None


class DecompressingExtractor:
    __slots__ = ("_budget", "_dead", "_decoder", "_inner", "_max", "_members", "_prefix")

    def __init__(self, inner: Extractor, coding: str, *,
                 max_decoded: int = DEFAULT_MAX_DECODED) -> None:
        self._inner = inner
        self._decoder = zlib.decompressobj(_AUTO_HEADER)
        self._budget = self._max = max_decoded
        self._dead = max_decoded <= 0
        self._members = 1
        self._prefix: bytes | None = b"" if coding == "deflate" else None

    def feed(self, chunk: bytes) -> None:
        if self._dead or not chunk:
            return
        try:
            self._decode(chunk)
        except zlib.error:
            self._retry_raw(chunk)
            return
        if self._prefix is not None:
            # zlib rejects a bad header within its first bytes: past those, no retry is needed
            self._prefix = None if self._budget < self._max else self._prefix + chunk
            if self._prefix is not None and len(self._prefix) > _RETRY_KEEP:
                self._prefix = None

    def finish(self) -> Usage:
        if not self._dead:
            try:
                tail = self._decoder.flush()
            except zlib.error:
                tail = b""  # a truncated body: what was decoded so far is all there is
            self._emit(tail[: self._budget])
        return self._inner.finish()

    def _retry_raw(self, chunk: bytes) -> None:
        prefix, self._prefix = self._prefix, None
        if prefix is None or self._budget < self._max:
            self._dead = True
            return
        self._decoder = zlib.decompressobj(_RAW_DEFLATE)
        try:
            self._decode(prefix + chunk)
        except zlib.error:
            self._dead = True

    def _decode(self, data: bytes) -> None:
        while data and not self._dead:
            self._emit(self._decoder.decompress(data, self._budget))
            if self._decoder.unconsumed_tail:
                self._dead = True  # over the budget: stop reading, keep what was seen
                return
            data = b""
            if self._decoder.eof and self._decoder.unused_data:
                if self._members >= _MAX_MEMBERS:
                    self._dead = True
                    return
                data = self._decoder.unused_data
                self._members += 1
                self._decoder = zlib.decompressobj(_AUTO_HEADER)

    def _emit(self, out: bytes) -> None:
        if out:
            self._budget -= len(out)
            self._inner.feed(out)
        if self._budget <= 0:
            self._dead = True
