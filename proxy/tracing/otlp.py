"""OTLP protobuf, written by hand for the sidecar's two span shapes: ``ExportTraceServiceRequest``.

The SDK's encoder builds a protobuf object per attribute and costs 40-50 µs of CPU per span here
(``python -m bench.trace_cost``); the wire format is small and fixed (opentelemetry-proto
``trace/v1/trace.proto``, ``common/v1/common.proto``), so the spans are encoded directly, once, on
the loop when the request completes, and the export thread only joins bytes. Attribute keys are
encoded once, at import. ``tests/tracing`` decodes the result with ``opentelemetry-proto`` and
compares it with the SDK's own encoding of the same spans.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

AttrValue = str | bool | int | float | Sequence[str]

# Wire types.
_VARINT, _I64, _LEN = 0, 1, 2
#: SpanKind (trace.proto): SERVER 2, CLIENT 3. Status.code: UNSET 0, OK 1, ERROR 2.
KIND_SERVER: Final = 2
KIND_CLIENT: Final = 3
STATUS_ERROR: Final = 2
_I64_MASK: Final = (1 << 64) - 1
_pack_q = struct.Struct("<Q").pack
_pack_d = struct.Struct("<d").pack


_SMALL: Final = tuple(bytes((i,)) for i in range(128))


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len(field: int, data: bytes) -> bytes:
    return _varint((field << 3) | _LEN) + _varint(len(data)) + data


def _any(v: AttrValue) -> bytes:
    """AnyValue: string_value 1, bool_value 2, int_value 3, double_value 4, array_value 5."""
    if isinstance(v, str):
        b = v.encode()
        return b"\x0a" + _varint(len(b)) + b
    if isinstance(v, bool):  # before int: a bool is an int
        return b"\x10\x01" if v else b"\x10\x00"
    if isinstance(v, int):
        return b"\x18" + _varint(v & _I64_MASK)  # int64: two's complement as a varint
    if isinstance(v, float):
        return b"\x21" + _pack_d(v)
    return _len(5, b"".join(_len(1, _any(x)) for x in v))


#: Encoded ``KeyValue``s of attributes whose values repeat (an operation, a model, a customer):
#: most of a span's attributes are found here rather than encoded again. Bounded: cleared when full.
REPEATING: Final = frozenset({
    "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model",
    "http.request.method", "http.response.status_code", "url.path", "error.type", "server.address",
    "server.port", "lava.customer.id", "lava.meter", "lava.outcome", "lava.usage.source",
    "lava.usage.partial", "lava.stream"})
_MAX_CACHED: Final = 8192
_cached: dict[tuple[str, AttrValue, type], bytes] = {}


#: Encoded ``KeyValue.key`` fields by name: attribute names are constants in code (plus the
#: configured resource attributes, at most 64).
_keys: dict[str, bytes] = {}


def _key_value(k: str, v: AttrValue) -> bytes:
    """One ``KeyValue`` (``key`` 1, ``value`` 2), length-prefixed, for a repeated attributes field."""
    key = _keys.get(k)
    if key is None:
        kb = k.encode()
        key = _keys[k] = b"\x0a" + _varint(len(kb)) + kb
    if isinstance(v, str):  # the common cases inline: a string, a count
        vb = v.encode()
        value = b"\x0a" + _varint(len(vb)) + vb
    elif isinstance(v, int) and not isinstance(v, bool):
        value = b"\x18" + _varint(v & _I64_MASK)
    else:
        value = _any(v)
    kv = key + b"\x12" + _varint(len(value)) + value
    return _varint(len(kv)) + kv


def _attributes(field: int, attrs: Mapping[str, AttrValue]) -> bytes:
    tag = _varint((field << 3) | _LEN)
    out = []
    cached = _cached
    for k, v in attrs.items():
        if k in REPEATING and isinstance(v, str | int | float):
            key = (k, v, type(v))  # True == 1 == 1.0: the type keeps them apart
            enc = cached.get(key)
            if enc is None:
                if len(cached) >= _MAX_CACHED:
                    cached.clear()
                enc = cached[key] = _key_value(k, v)
        else:
            enc = _key_value(k, v)
        out.append(enc)
    return tag + tag.join(out) if out else b""


def attributes(attrs: Mapping[str, AttrValue]) -> bytes:
    """``attrs`` as encoded ``Span.attributes`` fields, for ``span(encoded=...)``: a group of
    attributes that repeats from span to span is encoded once and reused whole."""
    return _attributes(9, attrs)


def span(*, trace_id: int, span_id: int, parent_id: int | None, name: str | bytes, kind: int,
         start_ns: int, end_ns: int, attributes: Mapping[str, AttrValue], encoded: bytes = b"",
         events: Iterable[tuple[str, int]] = (), error: bool = False,
         trace_state: str | None = None) -> bytes:
    """One ``Span`` message (trace.proto field numbers in the comments). ``encoded``: attributes
    already encoded (``attributes()``), written before ``attributes``."""
    parts = [
        b"\x0a\x10" + trace_id.to_bytes(16, "big"),             # 1 trace_id
        b"\x12\x08" + span_id.to_bytes(8, "big"),               # 2 span_id
    ]
    if trace_state:
        parts.append(_len(3, trace_state.encode()))             # 3 trace_state
    if parent_id is not None:
        parts.append(b"\x22\x08" + parent_id.to_bytes(8, "big"))  # 4 parent_span_id
    parts += [
        _len(5, name if isinstance(name, bytes) else name.encode()),  # 5 name
        b"\x30" + _varint(kind),                                # 6 kind
        b"\x39" + _pack_q(start_ns),                            # 7 start_time_unix_nano (fixed64)
        b"\x41" + _pack_q(end_ns),                              # 8 end_time_unix_nano
        encoded,                                                # 9 attributes
        _attributes(9, attributes),
    ]
    # 11 events: Event.time_unix_nano 1 (fixed64), name 2.
    parts.extend(_len(11, b"\x09" + _pack_q(t) + _len(2, n.encode())) for n, t in events)
    # 15 status (code 3); present even when unset, as the SDK writes it.
    parts.append(b"\x7a\x02\x18\x02" if error else b"\x7a\x00")
    # 16 flags: "whether the parent is remote is known" and "it is" (only the server span's can be),
    # as the SDK's encoder sets them.
    flags = 0x100 | (0x200 if parent_id is not None and kind == KIND_SERVER else 0)
    parts.append(b"\x85\x01" + flags.to_bytes(4, "little"))
    return b"".join(parts)


def request_prefix(resource: Mapping[str, AttrValue], scope_name: str, scope_version: str) -> tuple[
        bytes, bytes]:
    """The fixed parts of an ``ExportTraceServiceRequest`` for one resource and scope: what comes
    before the spans inside ``ScopeSpans`` (the encoded Resource and InstrumentationScope)."""
    res = _len(1, _attributes(1, resource))  # ResourceSpans.resource: Resource.attributes (1)
    scope = _len(1, _len(1, scope_name.encode()) + _len(2, scope_version.encode()))  # ScopeSpans.scope
    return res, scope


def export_request(res: bytes, scope: bytes, spans: Sequence[bytes]) -> bytes:
    """``ExportTraceServiceRequest{resource_spans: [ResourceSpans{resource, scope_spans: [ScopeSpans{
    scope, spans}]}]}``."""
    scope_spans = scope + b"".join(_len(2, s) for s in spans)
    return _len(1, res + _len(2, scope_spans))
