"""HTTP/1.1 wire details shared by the sidecar's own server (``inbound``) and client (``gateway.lean``):
chunked framing, and header fields kept as the bytes that arrived.

Headers stay bytes from socket to socket: each field is lower-cased once as it is parsed (as
uvicorn's ``httptools_impl.on_header`` does) and kept with its name as sent, so the header policy
compares bytes, the outbound head is joined from the same bytes, and only the few values the
sidecar actually reads are ever decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, TypeVar, overload

from multidict import MultiMapping

#: The last chunk of a chunked body, with no trailers (RFC 9112 section 7.1).
LAST_CHUNK: Final = b"0\r\n\r\n"

#: One header field: (lower-case name, name as sent, value), all bytes as on the wire.
Field = tuple[bytes, bytes, bytes]

_T = TypeVar("_T")


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 section 7.1). Never call it with ``b""``: an empty
    chunk is the body's end."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def field(name: str, value: str) -> Field:
    """A field from text (the sidecar's own headers, config): names are ASCII tokens; a value is
    sent as UTF-8, a value decoded from the wire with surrogateescape as its exact bytes, and a
    lone surrogate that did not come from the wire as its code units (never a failed request)."""
    raw = name.encode("latin-1", "replace")
    try:
        encoded = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        encoded = value.encode("utf-8", "surrogatepass")
    return raw.lower(), raw, encoded


class Headers(MultiMapping[str]):
    """A message's header fields, looked up without case: ``value(b"content-type")`` on the bytes,
    or as a ``Mapping[str, str]`` (``get``, ``getall``) that decodes only the values read.

    ``fields`` keeps every field as received, in order, repeats included. A lookup of a repeated
    name answers its first value, as ``multidict.CIMultiDict`` does; ``getall`` answers them all.
    Values are decoded as UTF-8 with surrogateescape (the request: every byte kept, and encoded
    back unchanged) or as latin-1 (a response: what aiohttp and http.client do).
    """

    __slots__ = ("_index", "_latin1", "_repeated", "fields")

    def __init__(self, fields: list[Field], *, latin1: bool = False) -> None:
        self.fields = fields
        self._latin1 = latin1
        # Last value per name; repeated names (rare) are found by a scan instead.
        index = self._index = {lname: value for lname, _, value in fields}
        self._repeated = len(index) < len(fields)

    # -- bytes ----------------------------------------------------------------------------------

    @property
    def repeated(self) -> bool:
        """Some name was sent more than once."""
        return self._repeated

    def value(self, lname: bytes) -> bytes | None:
        """The first value of ``lname`` (lower-case bytes), or None."""
        value = self._index.get(lname)
        if value is not None and self._repeated:
            for name, _, first in self.fields:
                if name == lname:
                    return first
        return value

    # -- Mapping[str, str] ----------------------------------------------------------------------

    def _decode(self, value: bytes) -> str:
        return value.decode("latin-1") if self._latin1 else value.decode("utf-8", "surrogateescape")

    @overload
    def get(self, key: str) -> str | None: ...

    @overload
    def get(self, key: str, default: str | _T) -> str | _T: ...

    def get(self, key: str, default: object = None) -> object:
        value = self.value(key.lower().encode("latin-1", "replace"))
        return default if value is None else self._decode(value)

    def __getitem__(self, key: str) -> str:
        value = self.value(key.lower().encode("latin-1", "replace"))
        if value is None:
            raise KeyError(key)
        return self._decode(value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower().encode("latin-1", "replace") in self._index

    @overload
    def getall(self, key: str) -> list[str]: ...

    @overload
    def getall(self, key: str, default: _T) -> list[str] | _T: ...

    def getall(self, key: str, default: object = ...) -> object:
        lname = key.lower().encode("latin-1", "replace")
        if not self._repeated:
            value = self._index.get(lname)
            found = [] if value is None else [self._decode(value)]
        else:
            found = [self._decode(v) for n, _, v in self.fields if n == lname]
        if not found:
            if default is ...:
                raise KeyError(key)
            return default
        return found

    @overload
    def getone(self, key: str) -> str: ...

    @overload
    def getone(self, key: str, default: _T) -> str | _T: ...

    def getone(self, key: str, default: object = ...) -> object:
        value = self.value(key.lower().encode("latin-1", "replace"))
        if value is None:
            if default is ...:
                raise KeyError(key)
            return default
        return self._decode(value)

    def __iter__(self) -> Iterator[str]:
        """Every name as sent, in order, repeats included (as ``CIMultiDict`` iterates)."""
        return (name.decode("latin-1") for _, name, _ in self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        return f"<Headers {len(self.fields)} fields>"  # never the values: they hold credentials
