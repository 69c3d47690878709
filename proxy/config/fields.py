"""Typed access to one YAML mapping for the config loader: wrong types, bad values and unknown keys
become ``Problem``s naming their dotted key, never exceptions, so every problem is reported at once."""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from ..errors import Problem
from ..secret import Secret, SecretFileError
from ..secret import read_secret_file as _read_secret_file
from . import settings as c

T = TypeVar("T")

#: A value from the file is echoed in a problem cut to this many characters, with a marker.
SHOWN_CHARS: Final = 40
#: Problems quote keys from the file (an unknown key can be any length): bounded too.
_MAX_KEY_CHARS: Final = 120
_MAX_MESSAGE_CHARS: Final = 240


def _bounded_repr() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxtuple, r.maxset = 2, 4, 4, 4, 4
    r.maxstring = r.maxother = r.maxlong = SHOWN_CHARS
    return r


_REPR: Final = _bounded_repr()


def clip(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with a marker when it was."""
    return text if len(text) <= limit else f"{text[:limit]}… (truncated, {len(text):,} characters)"


def shown(value: object) -> str:
    """How a problem quotes a value from the file: its repr, bounded in length and in the work it
    takes (a nested value is not walked whole), never a copy of a long value (issue 24: an error
    echoing an expanded value wrote hundreds of MB to the log)."""
    if isinstance(value, str):
        if len(value) <= SHOWN_CHARS:
            return repr(value)
        return f"{value[:SHOWN_CHARS]!r}… (truncated, {len(value):,} characters)"
    text = _REPR.repr(value)  # containers: a few items of the first levels, "..." for the rest
    if len(text) <= SHOWN_CHARS and "..." not in text:
        return text
    return f"{text[:SHOWN_CHARS]}… (truncated)"


#: How a problem names the type a key needs (issue 23: "must be a int" read as a typo).
_KINDS: Final[dict[type, str]] = {int: "an integer", float: "a number", str: "a string",
                                  bool: "true or false", list: "a list", dict: "a mapping"}


def kind_name(kind: type) -> str:
    return _KINDS.get(kind, f"a {kind.__name__}")


def what(value: object) -> str:
    """A value from the file as a person reads it: its YAML type in words, then the value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {shown(value)}"
    if isinstance(value, str):
        return f"the text {shown(value)}"
    if isinstance(value, list):
        return f"a list {shown(value)}"
    if isinstance(value, Mapping):
        return f"a mapping {shown(value)}"
    return f"{type(value).__name__} {shown(value)}"


#: YAML 1.1 reads these unquoted as booleans: a problem about one says so.
_YAML_BOOL_HINT: Final = " (YAML reads an unquoted yes, no, on or off as true or false: quote it)"


class Reader:
    """Typed access to one mapping; wrong types and unknown keys become problems, not exceptions."""

    def __init__(self, data: object, path: str, problems: list[Problem]) -> None:
        self.path, self.problems = path, problems
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.problem("", "must be a mapping")
            data = {}
        self.data: Mapping[str, Any] = data
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def problem(self, name: str, message: str) -> None:
        key = self.key(name) if name else self.path or "<root>"
        self.problems.append(Problem(clip(key, _MAX_KEY_CHARS), clip(message, _MAX_MESSAGE_CHARS)))

    def raw(self, name: str) -> Any:
        self.seen.add(name)
        return self.data.get(name)

    def get(self, name: str, kind: type[T], default: T, check: Callable[[T], str | None] | None = None) -> T:
        value = self.raw(name)
        if value is None:
            return default
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            hint = _YAML_BOOL_HINT if isinstance(value, bool) and kind is str else ""
            self.problem(name, f"must be {kind_name(kind)}, got {what(value)}{hint}")
            return default
        if check is not None and (msg := check(value)) is not None:
            self.problem(name, msg)
            return default
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.raw(name)
        if value is None:
            return default
        if value not in choices or not isinstance(value, str):  # name the values, whatever came
            hint = _YAML_BOOL_HINT if isinstance(value, bool) else ""
            self.problem(name, f"must be one of {', '.join(choices)}, got {what(value)}{hint}")
            return default
        return value

    def section(self, name: str) -> Reader:
        return Reader(self.raw(name), self.key(name), self.problems)

    def finish(self) -> None:
        """Every key this section does not know is a problem, in file order; a near miss of a
        known key (difflib, against the keys read at this level) is named."""
        known = [k for k in self.seen if isinstance(k, str)]
        for extra in self.data:
            if extra in self.seen:
                continue
            close = difflib.get_close_matches(str(extra)[:_MAX_KEY_CHARS], known, n=1, cutoff=0.6)
            self.problem(str(extra), f"unknown key; did you mean {close[0]}? (see config/sidecar.yaml)"
                         if close else "unknown key (check the spelling; see config/sidecar.yaml)")


def positive(v: float) -> str | None:
    return None if v > 0 else "must be greater than 0"


def non_negative(v: float) -> str | None:
    return None if v >= 0 else "must be 0 or more"


def parse_listen(value: str) -> c.Listen:
    """``HOST:PORT`` or ``[V6]:PORT`` → ``Listen``; raises ValueError with a readable message."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be HOST:PORT, got {shown(value)}")
    return c.Listen(host.strip("[]"), int(port))


def listen_field(r: Reader, name: str, default: c.Listen) -> c.Listen:
    raw = r.get(name, str, "")
    if not raw:
        return default
    try:
        return parse_listen(raw)
    except ValueError as exc:
        r.problem(name, str(exc))
        return default


def url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http(s) URL with a host, got {shown(url)}"
    if parts.query or parts.fragment:
        return "must not carry a query string or fragment"
    return None


def secret_ref(r: Reader, name: str, env: Mapping[str, str], *, required: bool) -> Secret | None:
    """Resolve ``{env: NAME}`` / ``{file: PATH}``; an inline string is refused, never echoed."""
    ref = r.raw(name)
    if ref is None:
        return None
    if isinstance(ref, str):
        r.problem(name, "secrets are not written in the config file; use {env: VAR} or {file: PATH}")
        return None
    sub = Reader(ref, r.key(name), r.problems)
    env_name, file_name = sub.get("env", str, ""), sub.get("file", str, "")
    sub.finish()
    if bool(env_name) == bool(file_name):
        r.problem(name, "give exactly one of env or file")
        return None
    if env_name:
        value = env.get(env_name, "")
        if not value and required:
            r.problem(name, f"environment variable {env_name} is not set or empty")
        return Secret(value) if value else None
    return read_secret_file(r, name, file_name)


def read_secret_file(r: Reader, name: str, path: str) -> Secret | None:
    """A ``{file: PATH}`` reference: the file's key, or a problem under ``name`` (``secret.py``
    reads every secret file, with the same sentences)."""
    try:
        return _read_secret_file(path)
    except SecretFileError as exc:
        r.problem(name, str(exc))
        return None
