"""Typed access to one YAML mapping for the config loader: wrong types, bad values and unknown keys
become ``Problem``s naming their dotted key, never exceptions, so every problem is reported at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import Problem
from ..secret import Secret
from . import settings as c

T = TypeVar("T")


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
        self.problems.append(Problem(self.key(name) if name else self.path or "<root>", message))

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
            self.problem(name, f"must be a {kind.__name__}, got {type(value).__name__} {value!r}")
            return default
        if check is not None and (msg := check(value)) is not None:
            self.problem(name, msg)
            return default
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(name, str, default)
        if value not in choices:
            self.problem(name, f"must be one of {', '.join(choices)}, got {value!r}")
            return default
        return value

    def section(self, name: str) -> Reader:
        return Reader(self.raw(name), self.key(name), self.problems)

    def finish(self) -> None:
        for extra in sorted(set(self.data) - self.seen):
            self.problem(str(extra), "unknown key (check the spelling; see config/sidecar.yaml)")


def positive(v: float) -> str | None:
    return None if v > 0 else "must be greater than 0"


def non_negative(v: float) -> str | None:
    return None if v >= 0 else "must be 0 or more"


def parse_listen(value: str) -> c.Listen:
    """``HOST:PORT`` or ``[V6]:PORT`` → ``Listen``; raises ValueError with a readable message."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be HOST:PORT, got {value!r}")
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
        return f"must be an http(s) URL with a host, got {url!r}"
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
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        r.problem(name, f"cannot read secret file {path}: {exc.strerror}")
        return None
    if not value:
        r.problem(name, f"secret file {path} is empty")
        return None
    return Secret(value)
