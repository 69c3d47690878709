"""``markup``: text and attribute values are escaped unless they are ``Markup``; names are code
and are checked; JSON for a script block cannot end the element."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.emulator.web.markup import Markup, el, esc, join, script_json

from .pages import HOSTILE, read


def test_text_and_attributes_are_escaped() -> None:
    html = el("p", {"title": HOSTILE, "data-x": 3}, HOSTILE, el("b", None, "ok"), None, False)
    assert html == ('<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&quot;&#x27;'
                    '&lt;img src=x onerror=alert(1)&gt;" data-x="3">&lt;script&gt;alert("x")'
                    '&lt;/script&gt;&amp;"\'&lt;img src=x onerror=alert(1)&gt;<b>ok</b></p>')
    page = read(el("div", {"id": "d", "title": HOSTILE}, HOSTILE))
    assert page.ids["d"] == HOSTILE
    assert page.attrs["d"]["title"] == HOSTILE


def test_markup_passes_through_and_esc_is_idempotent_on_it() -> None:
    inner = el("i", None, "<")
    assert el("p", None, inner) == "<p><i>&lt;</i></p>"
    assert esc(inner) is inner
    assert join(["<", inner, [1, ["x"]]]) == "&lt;<i>&lt;</i>1x"


def test_boolean_attributes_and_void_elements() -> None:
    assert el("input", {"required": True, "hidden": False, "value": ""}) == '<input required value="">'
    assert el("rect", {"width": 1}) == '<rect width="1"/>'


@pytest.mark.parametrize("name", ["sCript", "a b", "on click", 'x"', "", "1a"])
def test_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="not an"):
        el(name)
    with pytest.raises(ValueError, match="not an"):
        el("p", {name: "v"})


@given(st.text())
def test_any_text_reads_back_as_itself(text: str) -> None:
    text = text.replace("\r", "")  # HTML normalises newlines
    page = read(el("div", {"id": "t", "title": text}, text))
    assert page.ids.get("t", "") == text.replace("\x00", "\ufffd") or "\x00" in text
    assert "<" not in el("div", None, text)[5:-6]


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                    max_leaves=20))
def test_script_json_round_trips_and_cannot_close_the_script(value: object) -> None:
    text = script_json(value)
    assert isinstance(text, Markup)
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert json.loads(text) == value
