"""Escaped HTML by construction: ``Markup`` is text already safe to emit, and ``el`` builds an
element whose attribute values and text children are escaped unless they are ``Markup``. Page
code never concatenates raw strings into HTML, so a hostile plan name or customer field can only
ever come out as text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from html import escape

_NAME = re.compile(r"[a-z][a-z0-9-]*\Z")
#: Elements with no closing tag.
_VOID = frozenset({"input", "br", "meta", "link", "img", "hr", "rect", "line", "circle", "path"})


class Markup(str):
    """Text that is valid, escaped HTML. Only this module makes it from raw strings."""

    __slots__ = ()


def esc(value: object) -> Markup:
    """Any value as HTML text (quotes escaped too, so it is safe in an attribute value)."""
    if isinstance(value, Markup):
        return value
    return Markup(escape(str(value), quote=True))


def _children(items: Iterable[object], out: list[str]) -> None:
    """A child is text (escaped), Markup (kept), None or a bool (left out), or an iterable of
    children (flattened)."""
    for item in items:
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, Markup):
            out.append(item)
        elif isinstance(item, str) or not isinstance(item, Iterable):
            out.append(escape(str(item), quote=False))
        else:
            _children(item, out)


def el(tag: str, attrs: Mapping[str, object] | None = None, *children: object) -> Markup:
    """``<tag attr="…">children</tag>``. Attribute names are code (checked), values are escaped;
    a value of ``True`` writes the bare attribute, ``None``/``False`` leaves it out."""
    if not _NAME.match(tag):
        raise ValueError(f"not an element name: {tag!r}")
    parts = [f"<{tag}"]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        if not _NAME.match(name):
            raise ValueError(f"not an attribute name: {name!r}")
        parts.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    if tag in _VOID and not children:
        parts.append(">" if tag not in ("rect", "line", "circle", "path") else "/>")
        return Markup("".join(parts))
    parts.append(">")
    _children(children, parts)
    parts.append(f"</{tag}>")
    return Markup("".join(parts))


def join(items: Iterable[object]) -> Markup:
    """Children side by side, with no element around them."""
    out: list[str] = []
    _children(items, out)
    return Markup("".join(out))


def script_json(value: object) -> Markup:
    """A JSON value that is safe inside ``<script>``: the characters that could end the element
    or start a comment are written as ``\\u`` escapes, which JSON reads back unchanged."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
