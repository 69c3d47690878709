from __future__ import annotations

import json

import pytest

from proxy.emulator.metadata import parse_metadata
from proxy.errors import MetadataInvalid


def test_absent_is_empty() -> None:
    assert parse_metadata(None, None) == {}


def test_header_or_query_and_header_wins() -> None:
    assert parse_metadata('{"user_id":"u_1"}', None) == {"user_id": "u_1"}
    assert parse_metadata(None, '{"user_id":"u_2"}') == {"user_id": "u_2"}
    assert parse_metadata('{"a":"h"}', '{"a":"q"}') == {"a": "h"}


def test_limits_are_inclusive() -> None:
    doc = {f"k{i}": "v" * 255 for i in range(99)}
    doc["K" * 255] = "x"
    assert parse_metadata(json.dumps(doc), None) == doc


@pytest.mark.parametrize("raw", [
    "not json", "[]", '"text"', "null",
    json.dumps({f"k{i}": "v" for i in range(101)}),
    json.dumps({"k" * 256: "v"}), json.dumps({"": "v"}), json.dumps({"bad-key": "v"}),
    json.dumps({"caf\u00e9": "v"}), json.dumps({"k": ""}), json.dumps({"k": "v" * 256}),
    json.dumps({"k": 1}), json.dumps({"k": None}), json.dumps({"k": {"nested": "x"}}),
    "{" + " " * 70_000 + "}",
])
def test_violations_are_400(raw: str) -> None:
    with pytest.raises(MetadataInvalid) as info:
        parse_metadata(raw, None)
    assert info.value.status == 400
    assert info.value.code == "metadata_invalid"
