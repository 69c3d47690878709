"""Recorded provider traffic (go-vcr v2 YAML) served byte for byte: load, match a forwarded request
to a recording by method and URL, and cut the recorded body into seeded random chunks.

Several recordings often share a URL (every chat call hits the same one); the request picks among
them with ``x-emulator-cassette: <name>``, else by an equal JSON request body, else the first
loaded wins.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from ..errors import ConfigError, Problem
from .reply import Part, Reply

HEADER: Final = "x-emulator-cassette"
#: Framing headers describe the recorded connection, not the one the emulator makes.
_DROP: Final = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection",
                          "keep-alive", "alt-svc"})
MAX_FILE_BYTES: Final = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Cassette:
    name: str                           # file stem, plus "#<id>" past the first interaction
    method: str
    url: str
    request_body: bytes
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def stream(self) -> bool:
        return any(n.lower() == "content-type" and "text/event-stream" in v.lower()
                   for n, v in self.headers)


def load_cassettes(paths: Iterable[Path]) -> tuple[Cassette, ...]:
    """Every interaction in the given files and directories (``*.yaml``, recursively), in path
    order. All problems are reported together."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.yaml")) if path.is_dir() else [path])
    loaded: list[Cassette] = []
    problems: list[Problem] = []
    for file in files:
        try:
            loaded.extend(_load_file(file))
        except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError) as exc:
            problems.append(Problem(str(file), f"not a go-vcr cassette: {type(exc).__name__}"))
    if problems:
        raise ConfigError(problems)
    return tuple(loaded)


def _load_file(file: Path) -> list[Cassette]:
    if file.stat().st_size > MAX_FILE_BYTES:
        raise ValueError("file too large")
    doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    out = []
    for i, inter in enumerate(doc["interactions"]):
        req, resp = inter["request"], inter["response"]
        headers = tuple((str(name), str(value))
                        for name, values in (resp.get("headers") or {}).items()
                        if str(name).lower() not in _DROP for value in values)
        out.append(Cassette(
            name=file.stem if i == 0 else f"{file.stem}#{inter.get('id', i)}",
            method=str(req["method"]).upper(), url=str(req["url"]),
            request_body=str(req.get("body") or "").encode(), status=int(resp["code"]),
            headers=headers, body=str(resp.get("body") or "").encode()))
    return out


def _same_json(a: bytes, b: bytes) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return a == b


def match(cassettes: Iterable[Cassette], method: str, url: str, body: bytes,
          headers: Mapping[str, str]) -> Cassette | None:
    candidates = [c for c in cassettes if c.method == method and c.url == url]
    if not candidates:
        return None
    wanted = headers.get(HEADER)
    if wanted:
        return next((c for c in candidates if c.name == wanted), None)
    return next((c for c in candidates if _same_json(c.request_body, body)), candidates[0])


def cassette_reply(cassette: Cassette, *, seed: int, max_chunk: int) -> Reply:
    """The recording as a reply (its headers as recorded, provider request id included); usage
    is left to be read from the delivered bytes."""
    rng = random.Random(f"{seed}:{cassette.name}")  # noqa: S311 - reproducible splits, not secrets
    body, parts, start = cassette.body, [], 0
    while start < len(body):
        size = rng.randint(1, max(1, max_chunk))
        parts.append(Part(body[start:start + size]))
        start += size
    model: Any = None
    with contextlib.suppress(ValueError, AttributeError):
        model = json.loads(cassette.request_body).get("model")
    return Reply(cassette.status, cassette.headers, tuple(parts), stream=cassette.stream,
                 model=model if isinstance(model, str) else None, measured=True)
