"""The partial JSON reader: whenever it answers, it answers what json.loads would."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.usage.jsonscan import HEAD_BYTES, head_members, last_key, parse_object, top_level

from .recorded import recordings

KEYS = ("usage", "model", "id", "duration")

# Keys and strings chosen to collide with what the scanner looks for.
_key = st.sampled_from([*KEYS, "data", "choices", "usage_breakdown", 'us"age', "usage\\",
                        "model ", "é", "x"]) | st.text(max_size=6)
_tricky = st.sampled_from(['"usage":{', '\\"usage\\":', '"model": "m"', "}", "]", "\\", '"',
                           "usage", '{"id": 1}', "\u2028", "é"])
_text = st.lists(_tricky | st.text(max_size=8), max_size=4).map("".join)
_scalar = (st.none() | st.booleans() | st.integers(-(10**20), 10**20) | _text
           | st.floats(allow_nan=False, allow_infinity=False))
_value = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_key, inner, max_size=4),
    max_leaves=15)
_members = st.lists(st.tuples(_key, _value), max_size=8, unique_by=lambda kv: kv[0])


@st.composite
def documents(draw: st.DrawFn) -> tuple[dict[str, object], bytes]:
    """A JSON object with unique keys, maybe a large filler member, in some encoder's style."""
    members = draw(_members)
    if draw(st.booleans()):
        size = draw(st.integers(0, 3 * HEAD_BYTES))
        filler: object = draw(st.sampled_from([
            "x" * size, [0.123456789] * (size // 12), "é" * (size // 2)]))
        members = [kv for kv in members if kv[0] != "pad"]
        members.insert(draw(st.integers(0, len(members))), ("pad", filler))
    doc = dict(members)
    indent = draw(st.sampled_from([None, 2]))
    seps = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    raw = json.dumps(doc, indent=indent, separators=seps, ensure_ascii=draw(st.booleans()))
    return doc, raw.encode()


@settings(max_examples=300, deadline=None)
@given(documents())
def test_fast_path_equals_full_parse(case: tuple[dict[str, object], bytes]) -> None:
    doc, raw = case
    got = top_level(raw, KEYS)
    if got is not None:
        assert got == {k: doc[k] for k in KEYS if k in doc}


def test_fast_path_usually_answers_on_real_shapes() -> None:
    """The property above is empty if the scanner always gives up: it must not."""
    rng = random.Random(5)
    answered = 0
    for _ in range(200):
        usage = {"prompt_tokens": rng.randint(0, 99), "total_tokens": rng.randint(0, 99)}
        doc = {"object": "list", "data": [{"embedding": [rng.random() for _ in range(300)]}],
               "model": "m", "usage": usage}
        raw = json.dumps(doc, indent=rng.choice([None, 2])).encode()
        got = top_level(raw, KEYS)
        answered += got is not None
        if got is not None:
            assert got == {"model": "m", "usage": usage}
    assert answered == 200


def test_recorded_json_bodies() -> None:
    large = 0
    for rec in recordings():
        if rec.is_sse or not rec.body.lstrip().startswith(b"{"):
            continue
        full = parse_object(rec.body)
        assert full is not None
        got = top_level(rec.body, KEYS)
        if got is not None:
            assert got == {k: full[k] for k in KEYS if k in full}, rec.name
            large += len(rec.body) > 8192
    assert large >= 5  # the embeddings and the base64 audio answers take the fast path


def test_nested_usage_after_the_real_one_is_unsure() -> None:
    # Groq puts usage_breakdown.models[].usage after the top-level usage
    raw = json.dumps({"usage": {"a": 1}, "usage_breakdown": {"models": [{"usage": {"a": 2}}]}})
    assert top_level(raw.encode(), ("usage",)) is None


def test_key_text_inside_strings_is_not_a_key() -> None:
    raw = json.dumps({"data": [1] * 2000, "note": 'say "usage": {"x": 1}', "usage": None}).encode()
    assert top_level(raw, ("usage",)) == {"usage": None}
    raw = json.dumps({"data": [1] * 2000, "kind": "usage"}).encode()
    assert top_level(raw, ("usage",)) == {}


def test_head_reads_scalars_and_never_a_cut_number() -> None:
    pad = HEAD_BYTES - len('{"id": "a", "n": ') - 2
    raw = ('{"id": "a", ' + " " * pad + '"n": 123456, "rest": [1]}').encode()
    assert len(raw[:HEAD_BYTES].decode().split('"n": ')[1]) < 6   # the cut is inside 123456
    members, complete = head_members(raw)
    assert members == {"id": "a"}
    assert not complete
    assert head_members(b'{"a": 1, "b": "x"}') == ({"a": 1, "b": "x"}, True)


def test_last_key_answers() -> None:
    assert last_key(b'{"a": 1}', "usage") is None
    assert last_key(b'{"usage" : 1}', "usage") == 1
    assert last_key(b'{"x\\"usage": 1}', "usage") == -1   # an escaped quote: cannot tell cheaply


def test_not_an_object_or_not_json() -> None:
    assert top_level(b'[{"usage": 1}]', KEYS) is None
    assert parse_object(b"[1]") is None
    assert parse_object(b"{") is None
    assert parse_object(b"[" * 100_000) is None   # RecursionError is caught, not raised


# -- parse_object: orjson where it answers what json.loads would, the standard library elsewhere --

def _reference(doc: bytes) -> object:
    """What parse_object promised before orjson: json.loads, objects only, never raising."""
    try:
        value = json.loads(doc)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _same(a: object, b: object) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 == True in Python); NaN is NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


_wide_scalar = (st.none() | st.booleans() | st.integers() | st.integers(-(2**70), 2**70)
                | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1,
                                   10**19 - 1, -(10**19) + 1, 10**18])
                | st.floats() | st.text() | st.text(st.characters(codec="utf-16", exclude_categories=[]))
                | st.sampled_from(["\ud800", "\udfff", "\x00", "\u2028", "é", "😀", "a\\b"]))
_wide_value = st.recursive(
    _wide_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=500, deadline=None)
@given(_wide_value, st.booleans(), st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")]),
       st.sampled_from(["utf-8", "utf-16", "utf-8-sig", "utf-32"]))
def test_parse_object_answers_what_json_loads_does(value: object, ascii_only: bool,
                                                   seps: tuple[str, str], encoding: str) -> None:
    doc = json.dumps({"v": value, "n": 1}, ensure_ascii=ascii_only, separators=seps)
    raw = doc.encode(encoding, "surrogatepass")
    assert _same(parse_object(raw), _reference(raw))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40), st.integers(0, 40), _wide_value)
def test_parse_object_on_damaged_documents(noise: bytes, at: int, value: object) -> None:
    doc = json.dumps({"usage": value}).encode()
    for raw in (noise, doc[:at] + noise + doc[at:], doc[:at], b"{" + noise + b"}"):
        assert _same(parse_object(raw), _reference(raw))


def test_parse_object_where_orjson_would_differ() -> None:
    cases = [b'{"a": 18446744073709551616}', b'{"a": -9223372036854775809}',
             b'{"a": 99999999999999999999999}', b'{"a": NaN}', b'{"a": -Infinity}',
             b'{"a": 1e400}', b'\xef\xbb\xbf{"a": 1}', '{"a": 1}'.encode("utf-16"),
             b'{"a": "\xed\xa0\x80"}', b'{"a": "\\ud800"}', b'{"a": 1, "a": 2}',
             b'{"a": ' * 1100 + b"1" + b"}" * 1100, b'{"a": 1} x', b'  {"a": 1}\n']
    for raw in cases:
        assert _same(parse_object(raw), _reference(raw)), raw[:40]
    assert parse_object(b'{"a": 18446744073709551616}') == {"a": 18446744073709551616}
    assert parse_object(b'{"a": NaN}') is not None   # the standard library's leniency, kept
    assert parse_object(b'{"a": 1, "a": 2}') == {"a": 2}


_NUMBER = r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?"


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.from_regex(_NUMBER, fullmatch=True), min_size=1, max_size=4))
def test_parse_object_reads_every_number_literal_as_json_loads_does(literals: list[str]) -> None:
    # Every JSON number form, not only what json.dumps writes: 1E5, 1e+5, -0, 0.1e1, long
    # mantissas, subnormals, overflow to inf, integers on either side of 64 bits.
    raw = ('{"n": [' + ", ".join(literals) + "]}").encode()
    assert _same(parse_object(raw), _reference(raw))
